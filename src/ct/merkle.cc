#include "ct/merkle.h"

#include <bit>
#include <cstring>

#include "crypto/digest.h"

namespace autoseal::ct {
namespace {

// Largest power of two strictly smaller than n (n >= 2), RFC 6962 §2.1's k.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

}  // namespace

namespace {
Hash Sha256(ByteView data) {
  Bytes d = crypto::Digest(crypto::DigestAlgorithm::kSha256, data);
  Hash h;
  std::memcpy(h.data(), d.data(), 32);
  return h;
}
}  // namespace

Hash EmptyRoot() { return Sha256({}); }

Hash HashLeaf(ByteView leaf) {
  Bytes buf;
  buf.reserve(leaf.size() + 1);
  buf.push_back(0);
  buf.insert(buf.end(), leaf.begin(), leaf.end());
  return Sha256(buf);
}

Hash HashChildren(const Hash& left, const Hash& right) {
  uint8_t buf[65];
  buf[0] = 1;
  std::memcpy(buf + 1, left.data(), 32);
  std::memcpy(buf + 33, right.data(), 32);
  return Sha256(ByteView(buf, sizeof buf));
}

Bytes ToBytes(const Hash& h) { return Bytes(h.begin(), h.end()); }

Result<Hash> HashFromBytes(ByteView b) {
  if (b.size() != 32) return Fail(ErrorCode::kParse, "a hash must be 32 bytes");
  Hash h;
  std::memcpy(h.data(), b.data(), 32);
  return h;
}

void MerkleTree::Append(const Hash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  // Complete every subtree the new leaf closes.
  for (size_t h = 0; levels_[h].size() % 2 == 0; ++h) {
    if (h + 1 == levels_.size()) levels_.emplace_back();
    const auto& lv = levels_[h];
    levels_[h + 1].push_back(HashChildren(lv[lv.size() - 2], lv[lv.size() - 1]));
  }
}

void MerkleTree::Truncate(uint64_t n) {
  for (size_t h = 0; h < levels_.size(); ++h) levels_[h].resize(std::min<uint64_t>(levels_[h].size(), n >> h));
}

Hash MerkleTree::RangeHash(uint64_t begin, uint64_t end) const {
  uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    unsigned h = std::countr_zero(n);
    return levels_[h][begin >> h];
  }
  uint64_t k = SplitPoint(n);
  return HashChildren(RangeHash(begin, begin + k), RangeHash(begin + k, end));
}

Hash MerkleTree::Root(uint64_t n) const {
  if (n == 0) return EmptyRoot();
  return RangeHash(0, n);
}

void MerkleTree::Path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>& out) const {
  uint64_t n = end - begin;
  if (n == 1) return;
  uint64_t k = SplitPoint(n);
  if (m < k) {
    Path(m, begin, begin + k, out);
    out.push_back(RangeHash(begin + k, end));
  } else {
    Path(m - k, begin + k, end, out);
    out.push_back(RangeHash(begin, begin + k));
  }
}

std::vector<Hash> MerkleTree::InclusionProof(uint64_t index, uint64_t n) const {
  std::vector<Hash> out;
  Path(index, 0, n, out);
  return out;
}

void MerkleTree::SubProof(uint64_t m, uint64_t begin, uint64_t end, bool b,
                          std::vector<Hash>& out) const {
  uint64_t n = end - begin;
  if (m == n) {
    if (!b) out.push_back(RangeHash(begin, end));
    return;
  }
  uint64_t k = SplitPoint(n);
  if (m <= k) {
    SubProof(m, begin, begin + k, b, out);
    out.push_back(RangeHash(begin + k, end));
  } else {
    SubProof(m - k, begin + k, end, false, out);
    out.push_back(RangeHash(begin, begin + k));
  }
}

std::vector<Hash> MerkleTree::ConsistencyProof(uint64_t m, uint64_t n) const {
  std::vector<Hash> out;
  if (m == 0 || m == n) return out;
  SubProof(m, 0, n, true, out);
  return out;
}

Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t tree_size,
                       const std::vector<Hash>& proof, const Hash& root) {
  if (index >= tree_size) return Fail(ErrorCode::kCrypto, "leaf index beyond the tree size");
  uint64_t fn = index, sn = tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return Fail(ErrorCode::kCrypto, "inclusion proof too long");
    if ((fn & 1) || fn == sn) {
      r = HashChildren(p, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Fail(ErrorCode::kCrypto, "inclusion proof too short");
  if (r != root) return Fail(ErrorCode::kCrypto, "inclusion proof does not lead to the root");
  return Ok();
}

Status VerifyConsistency(uint64_t first, uint64_t second, const Hash& first_root,
                         const Hash& second_root, const std::vector<Hash>& proof) {
  if (first > second) return Fail(ErrorCode::kCrypto, "first tree is larger than the second");
  if (first == second) {
    if (!proof.empty()) return Fail(ErrorCode::kCrypto, "consistency proof between equal sizes must be empty");
    if (first_root != second_root) return Fail(ErrorCode::kCrypto, "roots of equal sizes differ");
    return Ok();
  }
  if (first == 0) {
    if (!proof.empty()) return Fail(ErrorCode::kCrypto, "consistency proof from the empty tree must be empty");
    return Ok();
  }
  if (proof.empty()) return Fail(ErrorCode::kCrypto, "empty consistency proof");
  std::vector<Hash> path;
  if (std::has_single_bit(first)) path.push_back(first_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = first - 1, sn = second - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return Fail(ErrorCode::kCrypto, "consistency proof too long");
    if ((fn & 1) || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Fail(ErrorCode::kCrypto, "consistency proof too short");
  if (fr != first_root) return Fail(ErrorCode::kCrypto, "consistency proof does not lead to the first root");
  if (sr != second_root) return Fail(ErrorCode::kCrypto, "consistency proof does not lead to the second root");
  return Ok();
}

}  // namespace autoseal::ct
