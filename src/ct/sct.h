#pragma once

// RFC 6962 §3 structures in their TLS encodings: log entries, Merkle tree leaves, signed
// certificate timestamps (SCTs), SCT lists, tree head signatures, and the log's signing key.
//
// Signatures are RFC 5246 DigitallySigned: hash byte, signature byte, uint16 length, signature.
// ECDSA P-256 logs use (4, 3) = SHA-256/ECDSA as RFC 6962 §2.1.4 requires; SM2 logs use the two
// bytes 0x07 0x08, the TLS 1.3 SignatureScheme sm2sig_sm3 (RFC 8998 §3.2.1), and sign with
// SM2-with-SM3 and the signer ID "1234567812345678" (docs/ct.md, "SM2 logs").

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/key.h"
#include "crypto/prepared.h"
#include "ct/merkle.h"

namespace autoseal::ct {

// RFC 6962 §3.1 LogEntryType.
enum class LogEntryType : uint16_t { kX509 = 0, kPrecert = 1 };

// What a leaf certifies: an x509 entry's certificate DER, or a precert entry's issuer_key_hash
// and TBSCertificate (RFC 6962 §3.2).
struct SignedEntry {
  LogEntryType type = LogEntryType::kX509;
  Bytes certificate;        // x509_entry: the certificate; precert_entry: the TBSCertificate
  Hash issuer_key_hash{};   // precert_entry only
};

// static-ct-api: the CtExtensions of every SCT and leaf carry extension leaf_index(0) with the
// 40-bit big-endian leaf index: 00 | 00 05 | 5 bytes.
Bytes LeafIndexExtension(uint64_t index);
// Finds the leaf_index extension in CtExtensions bytes; nullopt if absent or malformed.
std::optional<uint64_t> ParseLeafIndexExtension(ByteView extensions);

// The TLS encoding of TimestampedEntry (RFC 6962 §3.4).
Bytes EncodeTimestampedEntry(uint64_t timestamp_ms, const SignedEntry& entry, ByteView extensions);
// MerkleTreeLeaf: version v1(0), leaf_type timestamped_entry(0), TimestampedEntry. These are
// also exactly the bytes an SCT signature covers (RFC 6962 §3.2: version, signature_type
// certificate_timestamp(0), then the same fields).
Bytes EncodeMerkleTreeLeaf(uint64_t timestamp_ms, const SignedEntry& entry, ByteView extensions);
// Parses a MerkleTreeLeaf; kParse on malformed input.
struct ParsedLeaf {
  uint64_t timestamp_ms = 0;
  SignedEntry entry;
  Bytes extensions;
};
Result<ParsedLeaf> ParseMerkleTreeLeaf(ByteView leaf);

// The bytes a tree head signature covers (RFC 6962 §3.5): version, tree_hash(1), timestamp,
// tree_size, root.
Bytes TreeHeadSignatureInput(uint64_t timestamp_ms, uint64_t tree_size, const Hash& root);

// An RFC 6962 §3.2 SignedCertificateTimestamp.
struct SignedCertificateTimestamp {
  uint8_t version = 0;
  Hash log_id{};
  uint64_t timestamp_ms = 0;
  Bytes extensions;
  Bytes signature;  // the whole DigitallySigned

  // The TLS serialisation (as in an SCT list).
  Bytes Serialize() const;
  static Result<SignedCertificateTimestamp> Parse(ByteView data);
  // {"sct_version":0,"id":..,"timestamp":..,"extensions":..,"signature":..} (RFC 6962 §4.1).
  std::string ToJson() const;
  static Result<SignedCertificateTimestamp> FromJson(std::string_view json);
};

// SignedCertificateTimestampList (RFC 6962 §3.3): uint16 total length, then uint16-prefixed SCTs.
Bytes EncodeSctList(const std::vector<SignedCertificateTimestamp>& scts);
Result<std::vector<SignedCertificateTimestamp>> ParseSctList(ByteView data);

// Splits a DigitallySigned into its algorithm bytes and signature. kParse if malformed.
struct DigitallySigned {
  uint8_t hash = 0, signature_alg = 0;
  Bytes signature;
};
Result<DigitallySigned> ParseDigitallySigned(ByteView data);

// A log's public key: verifies SCTs and tree heads (ECDSA P-256, RSA, or SM2 with SM3 and the
// standard ID). Thread-safe.
class LogPublicKey {
 public:
  static Result<LogPublicKey> FromSpki(ByteView spki_der);  // kParse / kUnsupported
  const Hash& log_id() const { return log_id_; }           // SHA-256 of the SPKI
  const Bytes& spki() const { return spki_; }
  const crypto::PublicKey& key() const { return *key_; }
  bool is_sm2() const { return key_->Family() == crypto::KeyFamily::kSm2; }
  // Checks a DigitallySigned over data: the algorithm bytes must be the ones for this key type
  // ((4,3) ECDSA, (4,1) RSA, (7,8) SM2) and the signature must verify. kCrypto otherwise.
  Status VerifyDigitallySigned(ByteView data, ByteView digitally_signed) const;

 private:
  std::optional<crypto::PublicKey> key_;
  Bytes spki_;
  Hash log_id_{};
};

// A log's signing key. Thread-safe.
class LogSigner {
 public:
  // ECDSA P-256 or SM2 keys only; kPolicy otherwise.
  static Result<LogSigner> Create(crypto::PrivateKey key);
  const LogPublicKey& public_key() const { return public_; }
  const Hash& log_id() const { return public_.log_id(); }
  // Returns a DigitallySigned over data. kCrypto on failure.
  Result<Bytes> SignDigitallySigned(ByteView data) const;
  // The SCT for a leaf at timestamp with extensions, signed.
  Result<SignedCertificateTimestamp> SignSct(uint64_t timestamp_ms, const SignedEntry& entry,
                                             ByteView extensions) const;

 private:
  LogSigner(crypto::PrivateKey key, LogPublicKey pub) : key_(std::move(key)), public_(std::move(pub)) {}
  crypto::PrivateKey key_;
  LogPublicKey public_;
  std::shared_ptr<const crypto::PreparedSigner> prepared_;
};

}  // namespace autoseal::ct
