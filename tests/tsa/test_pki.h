#pragma once

// A throwaway root → intermediate → TSA hierarchy for the TSA tests, valid around real time.

#include <string>
#include <vector>

#include "core/clock.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace autoseal::tsa::testing {

struct TestPki {
  crypto::PrivateKey root_key, int_key, tsa_key;
  x509::Certificate root, intermediate, tsa;
  std::vector<x509::Certificate> Chain() const { return {tsa, intermediate}; }
};

// ECDSA P-256, RSA-2048 or SM2 throughout. Aborts the test on failure.
TestPki MakeTestPki(crypto::KeyType type);

// Writes roots.pem, chain.pem (TSA cert + intermediate), tsa.pem, tsa.key into dir.
void WriteTestPki(const TestPki& pki, const std::string& dir);

// A fresh empty directory under the test temp dir.
std::string TempDir(const std::string& name);

}  // namespace autoseal::tsa::testing
