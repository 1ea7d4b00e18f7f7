#pragma once

#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal::x509 {

// Checks a DNS name as a certificate may carry it: ASCII only (A-labels; U-labels must be
// converted to xn-- form first), labels of 1-63 letters/digits/hyphens not starting or ending
// with '-', at most 253 characters, not an IP address, top label not all-numeric, and a wildcard only
// as the entire left-most label ("*.example.com") when allow_wildcard. kInvalidArgument with the
// specific rule broken.
Status ValidateDnsName(std::string_view name, bool allow_wildcard);

// Checks an email address for an rfc822Name: local-part@domain, ASCII, domain per ValidateDnsName
// without wildcards, local part 1-64 printable characters without spaces, '@', or controls.
Status ValidateEmailAddress(std::string_view address);

// Parses an IPv4 or IPv6 literal into 4 or 16 bytes. kInvalidArgument otherwise.
Result<Bytes> ParseIpAddress(std::string_view text);
// Formats 4 or 16 bytes as an IP literal (RFC 5952 for IPv6).
std::string FormatIpAddress(ByteView address);

}  // namespace autoseal::x509
