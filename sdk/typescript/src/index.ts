export * from "./client.js";
export * from "./errors.js";
export * from "./stream.js";
export * from "./webhooks.js";
export type * from "./types.js";
