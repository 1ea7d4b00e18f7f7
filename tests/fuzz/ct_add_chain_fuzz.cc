// Fuzzes what a CT log and its clients read from the network: the add-chain / add-pre-chain
// body (JSON, base64, then each certificate split at the DER level and the chain checked), and
// the TLS structures (SCT, SCT list, MerkleTreeLeaf, DigitallySigned) and embedded SCT lists.
// Invariants: no crash; the add-chain fast scan agrees with the JSON parser whenever it accepts;
// a chain over random bytes never validates; every TLS structure that parses re-encodes to the
// same bytes.

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "crypto/key.h"
#include "ct/chain.h"
#include "ct/sct.h"
#include "ct/verifier.h"
#include "x509/issue.h"

using namespace autoseal;

namespace {

const ct::ChainValidator& Validator() {
  static const ct::ChainValidator* v = [] {
    auto key = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    x509::CertificateSpec rs;
    rs.profile = x509::Profile::kRootCa;
    rs.subject_key = key.Public();
    rs.common_name = "Fuzz Root";
    rs.organization = "autoseal fuzz";
    rs.not_before = SystemClock::Instance().Now();
    rs.not_after = rs.not_before + std::chrono::hours(24);
    return new ct::ChainValidator({*x509::IssueCertificate(rs, nullptr, key)});
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  // The fast scan of add-chain bodies decides only what the JSON parser decides the same way.
  if (auto scanned = ct::internal::ScanAddChainRequest(AsString(input))) {
    auto parsed = ct::internal::ParseAddChainRequestJson(AsString(input));
    CHECK(parsed.has_value() && *parsed == *scanned);
  }
  if (auto chain = ct::ParseAddChainRequest(AsString(input))) {
    CHECK(!chain->empty() && chain->size() <= ct::kMaxChainLength);
    for (bool precert : {false, true}) {
      auto accepted = Validator().Validate(*chain, precert, SystemClock::Instance().Now());
      CHECK(!accepted.has_value());  // nobody holds the fuzz root's key
    }
  }
  if (auto sct = ct::SignedCertificateTimestamp::Parse(input))
    CHECK(sct->Serialize() == Bytes(input.begin(), input.end()));
  if (auto list = ct::ParseSctList(input))
    CHECK(ct::EncodeSctList(*list) == Bytes(input.begin(), input.end()));
  if (auto leaf = ct::ParseMerkleTreeLeaf(input))
    CHECK(ct::EncodeMerkleTreeLeaf(leaf->timestamp_ms, leaf->entry, leaf->extensions) ==
          Bytes(input.begin(), input.end()));
  (void)ct::ParseDigitallySigned(input);
  (void)ct::ParseLeafIndexExtension(input);
  (void)ct::EmbeddedScts(input);
  (void)ct::PrecertEntryFromFinal(input, input);
  (void)ct::SignedCertificateTimestamp::FromJson(AsString(input));
  (void)ct::LogList::Parse(AsString(input));
  return 0;
}
