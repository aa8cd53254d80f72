#pragma once

#include <string>
#include <string_view>

namespace circolo::api {

// A one-time code the member's app shows (or puts in a QR code) and a till types or scans:
// 8 symbols of 23456789ABCDEFGHJKMNPQRSTVWXY (no look-alikes), shown as XXXX-XXXX, about 39 bits
// from OpenSSL's CSPRNG; with minutes of validity and a single use, guessing one is hopeless.
std::string new_link_code();

// The digest a code is kept and found by: an HMAC under a server secret, so that a reader of
// the database cannot try the ~2^39 codes offline. Input is case-insensitive and blanks and
// dashes are ignored, as a cashier types it.
std::string link_code_digest(std::string_view secret, std::string_view code);

}  // namespace circolo::api
