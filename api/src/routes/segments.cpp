// Segments: their members and counts, static lists uploaded as CSV, and a member's segments.
#include <algorithm>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/api/segments.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/segments.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/engine/segments.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const Access kAdmin = Access::only({Role::admin});
const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});
constexpr std::size_t kMaxUploadLines = 100'000;
constexpr std::size_t kUnknownShown = 100;

std::shared_ptr<const ProgramStore::Active> active_program(const ProgramStore& store) {
  auto active = store.for_request();
  if (!active || !active->program)
    throw ApiError(http::status::conflict, "no_program", "no program has been applied yet");
  return active;
}

const rules::CompiledProgram::Segment& require_segment(const rules::CompiledProgram& program,
                                                       const std::string& id) {
  const auto* s = program.segment(id);
  if (!s)
    throw ApiError(http::status::not_found, "unknown_segment",
                   "the active program has no segment \"" + id + "\"");
  return *s;
}

json run_json(const std::optional<db::segments::Run>& run) {
  if (!run) return nullptr;
  return {{"id", run->id},
          {"reason", run->reason},
          {"segments", run->segments},
          {"started_at", engine::format_rfc3339(run->started_at)},
          {"finished_at",
           run->finished_at ? json(engine::format_rfc3339(*run->finished_at)) : json(nullptr)},
          {"total", run->total},
          {"done", run->done},
          {"entered", run->entered},
          {"left", run->left}};
}

json segment_json(const rules::CompiledProgram::Segment& s, long long members,
                  const std::map<std::string, std::string>& evaluated) {
  const auto it = evaluated.find(s.id);
  return {{"id", s.id},
          {"name", s.name},
          {"kind", s.is_static ? "static" : "dynamic"},
          {"condition", s.is_static ? json(nullptr) : json(s.condition)},
          {"members", members},
          // Memberships follow this definition (false: the job has still to evaluate it).
          {"evaluated", it != evaluated.end() && it->second == s.digest}};
}

// One CSV field: quoted when it holds a comma, quote or line break; a leading = + - @ (which a
// spreadsheet would run as a formula) behind a quote mark.
std::string csv_field(const std::optional<std::string>& v) {
  if (!v) return "";
  std::string text = *v;
  if (!text.empty() && std::string_view("=+-@").find(text.front()) != std::string_view::npos)
    text.insert(0, "'");
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// An uploaded list: member ids (mem_…) or identifiers as type,value, one per line; a header
// line "member_id" or "type,value" is skipped.
struct Upload {
  std::vector<std::string> member_ids;
  std::vector<std::pair<std::size_t, engine::Identifier>> identifiers;  // line, identifier
  std::vector<std::pair<std::size_t, std::string>> ids_by_line;
};

Upload parse_upload(std::string_view body) {
  Upload out;
  std::vector<FieldError> errors;
  const auto fail = [&](std::size_t line, std::string message) {
    if (errors.size() < 20) errors.push_back({"line " + std::to_string(line), std::move(message)});
  };
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);  // a spreadsheet's BOM
  bool first_column_only = false;  // re-uploading an export: member_id,name,email,phone
  std::size_t line_no = 0, begin = 0, lines = 0;
  while (begin < body.size()) {
    auto end = body.find('\n', begin);
    if (end == std::string_view::npos) end = body.size();
    std::string line(body.substr(begin, end - begin));
    begin = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t") - first + 1);
    if (line_no == 1 && (line == "member_id" || line == "type,value")) continue;
    if (line_no == 1 && line.starts_with("member_id,")) {
      first_column_only = true;
      continue;
    }
    if (++lines > kMaxUploadLines) {
      fail(line_no, "at most " + std::to_string(kMaxUploadLines) + " members in one upload");
      break;
    }
    const auto comma = line.find(',');
    if (first_column_only || comma == std::string::npos) {
      const std::string id = first_column_only ? line.substr(0, comma) : line;
      if (!id.starts_with("mem_") || id.size() > 64) {
        fail(line_no, "a member id (mem_…) or an identifier as type,value");
        continue;
      }
      out.ids_by_line.emplace_back(line_no, id);
      out.member_ids.push_back(id);
      continue;
    }
    const auto r = engine::normalize_identifier(line.substr(0, comma), line.substr(comma + 1));
    if (const auto* e = std::get_if<engine::IdentifierError>(&r)) {
      fail(line_no, e->message);
      continue;
    }
    out.identifiers.emplace_back(line_no, std::get<engine::Identifier>(r));
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

}  // namespace

void register_segment_routes(App& app, const ProgramStore& store) {
  auto& s = app.services();
  auto& r = app.router();

  r.add({http::verb::get, "/v1/segments", kAdmin,
         [&s, &store](Request&) -> asio::awaitable<Response> {
           const auto active = active_program(store);
           const auto& program = *active->program;
           co_return co_await s.db.run([&](soci::session& sql) {
             const auto counts = db::segments::counts(sql);
             const auto evaluated = db::segments::definitions(sql);
             json list = json::array();
             for (const auto& seg : program.segments()) {
               const auto it = counts.find(seg.id);
               list.push_back(segment_json(seg, it == counts.end() ? 0 : it->second, evaluated));
             }
             return json_response(
                 http::status::ok,
                 {{"segments", list}, {"run", run_json(db::segments::latest_run(sql))}});
           });
         }});

  r.add({http::verb::get, "/v1/segments/{id}", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto active = active_program(store);
           const auto& seg = require_segment(*active->program, request.param("id"));
           co_return co_await s.db.run([&](soci::session& sql) {
             auto body = segment_json(seg, db::segments::count(sql, seg.id),
                                      db::segments::definitions(sql));
             body["run"] = run_json(db::segments::latest_run(sql));
             return json_response(http::status::ok, body);
           });
         }});

  // Paged JSON, or every member as CSV (Accept: text/csv) for the CRM; the CSV export of
  // personal data is in the audit trail.
  r.add(
      {http::verb::get, "/v1/segments/{id}/members", kAdmin,
       [&s, &store](Request& request) -> asio::awaitable<Response> {
         const auto active = active_program(store);
         const auto& seg = require_segment(*active->program, request.param("id"));
         const bool csv =
             request.header(http::field::accept).find("text/csv") != std::string_view::npos;
         const int limit =
             static_cast<int>(parse_whole_query(request.query("limit"), "limit", 1, 1000, 100));
         const std::string after = request.query("cursor").value_or("");
         if (after.size() > 64)
           throw ApiError(http::status::bad_request, "invalid_query", "cursor is not valid");
         const auto now = s.clock.now();
         co_return co_await s.db.run([&](soci::session& sql) {
           if (!csv) {
             const auto page = db::segments::members_page(sql, seg.id, after, limit);
             json members = json::array();
             for (const auto& m : page)
               members.push_back({{"id", m.id}, {"name", m.name ? json(*m.name) : json(nullptr)}});
             const bool more = page.size() == static_cast<std::size_t>(limit);
             return json_response(http::status::ok,
                                  {{"segment", seg.id},
                                   {"members", members},
                                   {"next_cursor", more ? json(page.back().id) : json(nullptr)}});
           }
           std::string out = "member_id,name,email,phone\n";
           std::string cursor;
           long long rows = 0;
           for (;;) {
             const auto page = db::segments::members_page(sql, seg.id, cursor, 5000);
             for (const auto& m : page) {
               out += m.id + "," + csv_field(m.name) + "," + csv_field(m.email) + "," +
                      csv_field(m.phone) + "\n";
             }
             rows += static_cast<long long>(page.size());
             if (page.size() < 5000) break;
             cursor = page.back().id;
           }
           audit(sql, request, now, "segment.exported", std::nullopt,
                 {{"segment", seg.id}, {"members", rows}});
           Response response;
           response.content_type = "text/csv";
           response.body = std::move(out);
           return response;
         });
       }});

  // A static segment's list, replaced by the upload: members that enter or leave it publish
  // segment.entered / segment.left (cause "upload").
  r.add({http::verb::put, "/v1/segments/{id}/members", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto active = active_program(store);
           const auto& seg = require_segment(*active->program, request.param("id"));
           if (!seg.is_static)
             throw ApiError(http::status::conflict, "segment_not_static",
                            "segment \"" + seg.id +
                                "\" follows its condition; only a static segment takes a list");
           const auto type = request.header(http::field::content_type);
           if (type.find("text/csv") == std::string_view::npos &&
               type.find("text/plain") == std::string_view::npos)
             throw ApiError(http::status::unsupported_media_type, "unsupported_media_type",
                            "send the list as text/csv");
           auto upload = parse_upload(request.raw.body());
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             // A segment that was dynamic until this program: the job has still to empty it,
             // and would take the upload's members out again.
             const auto stored = db::segments::definitions(sql);
             if (const auto it = stored.find(seg.id);
                 it != stored.end() && it->second != seg.digest)
               throw ApiError(http::status::conflict, "segment_being_evaluated",
                              "segment \"" + seg.id +
                                  "\" is being evaluated for the program that made it static; "
                                  "upload its list again in a few seconds");
             if (!stored.count(seg.id))
               db::segments::save_definitions(sql, {{seg.id, seg.digest}}, {}, now);
             std::vector<engine::Identifier> named;
             for (const auto& [line, ident] : upload.identifiers) named.push_back(ident);
             const auto owners = db::members::owners(sql, named);
             json unknown = json::array();
             long long unknown_count = 0;
             std::vector<std::string> ids = upload.member_ids;
             for (std::size_t i = 0; i < owners.size(); ++i) {
               if (owners[i]) {
                 ids.push_back(*owners[i]);
               } else if (++unknown_count <= static_cast<long long>(kUnknownShown)) {
                 unknown.push_back({{"line", upload.identifiers[i].first},
                                    {"value", upload.identifiers[i].second.type + "," +
                                                  upload.identifiers[i].second.value}});
               }
             }
             std::sort(ids.begin(), ids.end());
             ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
             const auto listed = db::segments::lock_listed(sql, seg.id, ids);
             std::vector<db::segments::Change> changes;
             long long entered = 0, left = 0, members = 0;
             std::vector<std::string> found;
             for (const auto& m : listed) {
               const bool in_list = std::binary_search(ids.begin(), ids.end(), m.id);
               if (in_list) {
                 ++members;
                 found.push_back(m.id);
               }
               const auto update = engine::segments::update(
                   m.segments, {seg.id},
                   in_list ? std::vector<std::string>{seg.id} : std::vector<std::string>{});
               if (!update.changed()) continue;
               db::segments::Change change{m.id, update.after, {}};
               change.events.emplace_back(
                   update.entered.empty() ? "segment.left" : "segment.entered",
                   engine::segments::event_data(seg.id, seg.name, m.consents, "upload"));
               (update.entered.empty() ? left : entered) += 1;
               changes.push_back(std::move(change));
             }
             // Member ids that name no member (or a merged or erased one).
             for (const auto& [line, id] : upload.ids_by_line) {
               if (std::binary_search(found.begin(), found.end(), id)) continue;
               if (++unknown_count <= static_cast<long long>(kUnknownShown))
                 unknown.push_back({{"line", line}, {"value", id}});
             }
             db::segments::save_changes(sql, changes, now);
             audit(sql, request, now, "segment.uploaded", std::nullopt,
                   {{"segment", seg.id},
                    {"members", members},
                    {"entered", entered},
                    {"left", left},
                    {"unknown", unknown_count}});
             return json_response(http::status::ok, {{"segment", seg.id},
                                                     {"members", members},
                                                     {"entered", entered},
                                                     {"left", left},
                                                     {"unknown_count", unknown_count},
                                                     {"unknown", unknown}});
           });
         }});

  // The till, the app and head office: which segments the member is in.
  r.add({http::verb::get, "/v1/members/{id}/segments", kAnyone,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const auto active = store.for_request();
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             const auto member = require_member(sql, id);
             json list = json::array();
             if (active && active->program) {
               for (const auto& seg_id : member.segments) {
                 if (const auto* seg = active->program->segment(seg_id))
                   list.push_back({{"id", seg->id},
                                   {"name", seg->name},
                                   {"kind", seg->is_static ? "static" : "dynamic"}});
               }
             }
             audit_admin_read(sql, request, now, id, "segments");
             return json_response(http::status::ok, {{"member_id", id}, {"segments", list}});
           });
         }});
}

}  // namespace circolo::api
