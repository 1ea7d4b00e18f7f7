#pragma once

// Private to x509/: small conversions between OpenSSL's ASN.1 types and ours.

#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"

namespace autoseal::x509::internal {

// Sets the SM2 ID on a certificate whose signature is SM2-with-SM3 (OpenSSL 3.0 otherwise
// verifies with an empty ID).
void AttachSm2IdIfNeeded(X509* x);

std::string NameToString(const X509_NAME* name);
std::string FirstCommonName(const X509_NAME* name);
Bytes IntegerBytes(const ASN1_INTEGER* i);
TimePoint ToTimePoint(const ASN1_TIME* t);
std::string NidName(int nid);
std::string ObjectName(const ASN1_OBJECT* obj);  // short name, else dotted
std::string ObjectText(const ASN1_OBJECT* obj);  // always dotted
std::string Asn1StringText(const ASN1_STRING* s);
uint32_t FromOpenSslKeyUsage(uint32_t openssl_bits);
uint32_t ToOpenSslKeyUsage(uint32_t bits);
bool ExtensionCritical(const X509* x, int nid);
// Entries of one type (GEN_DNS, GEN_IPADD, GEN_EMAIL) from a GENERAL_NAMES.
std::vector<std::string> GeneralNameEntries(const GENERAL_NAMES* names, int type);
std::vector<std::string> SanEntries(const X509* x, int type);

}  // namespace autoseal::x509::internal
