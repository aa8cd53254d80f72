#pragma once

namespace circolo::api {

class App;

// GET and PATCH /v1/members/{id}/consents.
void register_privacy_routes(App& app);

}  // namespace circolo::api
