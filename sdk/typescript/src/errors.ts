import type { Problem } from "./types.js";

/**
 * A refusal by circolod: an `application/problem+json` answer (RFC 9457). `code` is the stable
 * machine code to branch on (`insufficient_points`, `coupon_expired`, ...); `problem` holds every
 * field, including the extensions some codes add (`available`, `merged_into`, `errors`...).
 */
export class CircoloError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  readonly problem: Problem;

  constructor(problem: Problem, requestId: string | null) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = "CircoloError";
    this.status = problem.status;
    this.code = problem.code;
    this.requestId = problem.request_id ?? requestId;
    this.problem = problem;
  }
}

/** The server could not be reached (or did not answer in time), after every retry. */
export class CircoloConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CircoloConnectionError";
  }
}

/** Turns any non-2xx answer into a CircoloError, also one that is not problem+json (a proxy's). */
export async function errorFromResponse(response: Response): Promise<CircoloError> {
  const requestId = response.headers.get("x-request-id");
  const text = await response.text().catch(() => "");
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const body = (parsed && typeof parsed === "object" ? parsed : {}) as Partial<Problem>;
  const problem: Problem = {
    ...body,
    type: body.type ?? "about:blank",
    title: body.title ?? response.statusText,
    status: typeof body.status === "number" ? body.status : response.status,
    detail: body.detail ?? (text.slice(0, 500) || response.statusText),
    code: body.code ?? `http_${response.status}`,
  };
  return new CircoloError(problem, requestId);
}
