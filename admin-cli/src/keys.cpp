// keys create|list|revoke: the API keys of admins and touchpoints.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace circolo::cli {
namespace {

int keys(const Online& o, const std::string& action, const std::string& role,
         const std::string& channel, const std::string& name, const std::string& id) {
  int code = 0;
  if (action == "create") {
    json body{{"role", role}, {"name", name}};
    if (!channel.empty()) body["channel"] = channel;
    auto key = call(o, "POST", "/v1/admin/keys", body, code);
    if (!key) return code;
    if (o.json_output)
      std::cout << key->dump(2) << "\n";
    else
      std::cout << "Created " << (*key)["id"].get<std::string>() << ". The key, shown once:\n  "
                << (*key)["key"].get<std::string>() << "\n";
    return 0;
  }
  if (action == "revoke") {
    if (!call(o, "DELETE", "/v1/admin/keys/" + id, nullptr, code)) return code;
    std::cout << "Revoked " << id << ".\n";
    return 0;
  }
  auto list = call(o, "GET", "/v1/admin/keys", nullptr, code);
  if (!list) return code;
  if (o.json_output) {
    std::cout << list->dump(2) << "\n";
    return 0;
  }
  std::printf("%-32s  %-10s  %-8s  %-8s  %s\n", "ID", "ROLE", "CHANNEL", "STATE", "NAME");
  for (const auto& k : (*list)["items"]) {
    std::printf("%-32s  %-10s  %-8s  %-8s  %s\n", k["id"].get<std::string>().c_str(),
                k["role"].get<std::string>().c_str(),
                k["channel"].is_null() ? "-" : k["channel"].get<std::string>().c_str(),
                k["revoked_at"].is_null() ? "active" : "revoked",
                k["name"].get<std::string>().c_str());
  }
  return 0;
}

}  // namespace

void register_keys(CLI::App& app, Context& ctx) {
  struct State {
    std::string key_role, key_channel, key_name, key_id;
  };
  auto s = std::make_shared<State>();
  auto* keys_cmd = app.add_subcommand("keys", "API keys");
  keys_cmd->require_subcommand(1);
  auto* key_create = keys_cmd->add_subcommand("create",
                                              "create a key\n  example: circolo keys create --role "
                                              "touchpoint --channel store --name \"POS Milano\"");
  key_create->add_option("--role", s->key_role, "admin or touchpoint")->required();
  key_create->add_option("--channel", s->key_channel, "store, app, web... (touchpoint keys)");
  key_create->add_option("--name", s->key_name, "who uses it")->required();
  ctx.add_online(key_create, [s](const Online& o) {
    return keys(o, "create", s->key_role, s->key_channel, s->key_name, "");
  });
  auto* key_list = keys_cmd->add_subcommand("list", "list keys\n  example: circolo keys list");
  ctx.add_online(key_list, [](const Online& o) { return keys(o, "list", "", "", "", ""); });
  auto* key_revoke =
      keys_cmd->add_subcommand("revoke", "revoke a key\n  example: circolo keys revoke key_abc");
  key_revoke->add_option("id", s->key_id, "the key's id")->required();
  ctx.add_online(key_revoke,
                 [s](const Online& o) { return keys(o, "revoke", "", "", "", s->key_id); });
}

}  // namespace circolo::cli
