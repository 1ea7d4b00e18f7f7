// Merkle tree hashes, proofs and verification against testdata/merkle-vectors.json (RFC 6962
// §2.1, leaves and values as in transparency-dev/merkle, recomputed independently; a copy of
// ../shared/testdata/ct/merkle-vectors.json).

#include "ct/merkle.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/file.h"
#include "ct/internal/identity_filter.h"

namespace autoseal::ct {
namespace {

boost::json::value Vectors() {
  auto text = ReadFile(std::string(AUTOSEAL_CT_TESTDATA) + "/merkle-vectors.json");
  CHECK(text.has_value());
  return boost::json::parse(*text);
}

Hash H(const boost::json::value& v) {
  auto b = HexDecode(std::string_view(v.as_string()));
  CHECK(b.has_value());
  return *HashFromBytes(*b);
}

std::vector<Hash> Path(const boost::json::value& v) {
  std::vector<Hash> out;
  for (const auto& x : v.as_array()) out.push_back(H(x));
  return out;
}

MerkleTree EightLeaves(std::vector<Hash>* leaf_hashes = nullptr) {
  auto v = Vectors();
  MerkleTree t;
  for (const auto& leaf : v.at("leaves_hex").as_array()) {
    auto b = HexDecode(std::string_view(leaf.as_string()));
    Hash h = HashLeaf(*b);
    if (leaf_hashes) leaf_hashes->push_back(h);
    t.Append(h);
  }
  return t;
}

TEST(MerkleTest, SingleHashesMatchVectors) {
  auto v = Vectors();
  EXPECT_EQ(HashLeaf(AsBytes("L123456")), H(v.at("hash_leaf_L123456")));
}

TEST(MerkleTest, RootsForEveryPrefixMatchVectors) {
  auto v = Vectors();
  MerkleTree t = EightLeaves();
  for (const auto& [size, root] : v.at("roots").as_object())
    EXPECT_EQ(t.Root(std::stoull(std::string(size))), H(root)) << "size " << std::string(size);
}

TEST(MerkleTest, InclusionProofsMatchVectorsAndVerify) {
  auto v = Vectors();
  std::vector<Hash> leaves;
  MerkleTree t = EightLeaves(&leaves);
  int checked = 0;
  for (const auto& c : v.at("inclusion").as_array()) {
    uint64_t n = c.at("tree_size").as_int64(), i = c.at("leaf_index").as_int64();
    auto want = Path(c.at("path"));
    EXPECT_EQ(t.InclusionProof(i, n), want) << i << " in " << n;
    EXPECT_TRUE(VerifyInclusion(leaves[i], i, n, want, t.Root(n))) << i << " in " << n;
    if (!want.empty()) {
      auto bad = want;
      bad[0][0] ^= 1;
      EXPECT_FALSE(VerifyInclusion(leaves[i], i, n, bad, t.Root(n)));
      bad = want;
      bad.push_back(want[0]);
      EXPECT_FALSE(VerifyInclusion(leaves[i], i, n, bad, t.Root(n)));
    }
    EXPECT_FALSE(VerifyInclusion(leaves[i], i + n, n, want, t.Root(n)));
    ++checked;
  }
  EXPECT_GT(checked, 30);
}

TEST(MerkleTest, ConsistencyProofsMatchVectorsAndVerify) {
  auto v = Vectors();
  MerkleTree t = EightLeaves();
  for (const auto& c : v.at("consistency").as_array()) {
    uint64_t m = c.at("old_size").as_int64(), n = c.at("new_size").as_int64();
    auto want = Path(c.at("proof"));
    EXPECT_EQ(t.ConsistencyProof(m, n), want) << m << " -> " << n;
    EXPECT_TRUE(VerifyConsistency(m, n, t.Root(m), t.Root(n), want)) << m << " -> " << n;
    if (!want.empty()) {
      auto bad = want;
      bad.back()[31] ^= 0x80;
      EXPECT_FALSE(VerifyConsistency(m, n, t.Root(m), t.Root(n), bad));
    }
    if (m != n) {
      EXPECT_FALSE(VerifyConsistency(m, n, t.Root(n), t.Root(n), want));
    }
  }
}

TEST(MerkleTest, RfcExampleSevenLeaves) {
  // RFC 6962 §2.1.3: PROOF(3, D[7]) has four nodes, PROOF(4, D[7]) one, PROOF(6, D[7]) three.
  MerkleTree t = EightLeaves();
  EXPECT_EQ(t.ConsistencyProof(3, 7).size(), 4u);
  EXPECT_EQ(t.ConsistencyProof(4, 7).size(), 1u);
  EXPECT_EQ(t.ConsistencyProof(6, 7).size(), 3u);
  EXPECT_EQ(t.InclusionProof(6, 7).size(), 2u);
}

TEST(MerkleTest, LargeTreeProofsVerifyAndTruncateRestoresRoots) {
  MerkleTree t;
  std::vector<Hash> roots;
  for (uint32_t i = 0; i < 1000; ++i) {
    roots.push_back(t.Root(t.size()));
    uint8_t b[4] = {uint8_t(i), uint8_t(i >> 8), 0, 0};
    t.Append(HashLeaf(ByteView(b, 4)));
  }
  for (uint64_t n : {1, 2, 255, 256, 257, 999, 1000})
    for (uint64_t i : {uint64_t{0}, n / 2, n - 1})
      EXPECT_TRUE(VerifyInclusion(t.LeafHash(i), i, n, t.InclusionProof(i, n), t.Root(n)))
          << i << "/" << n;
  for (uint64_t m : {1, 7, 256, 500})
    EXPECT_TRUE(VerifyConsistency(m, 1000, t.Root(m), t.Root(1000), t.ConsistencyProof(m, 1000)));
  t.Truncate(500);
  EXPECT_EQ(t.size(), 500u);
  EXPECT_EQ(t.Root(500), roots[500]);
}

}  // namespace
}  // namespace autoseal::ct

namespace autoseal::ct::internal {
namespace {

TEST(IdentityFilterTest, NeverForgetsAnAddedValueAcrossGrowthAndRarelyClaimsAnAbsentOne) {
  auto value = [](uint64_t n) {
    // Distinct, well-spread values as SHA-256 gives them.
    Bytes b(8);
    for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
    return HashLeaf(b);
  };
  IdentityFilter f;
  const uint64_t n = IdentityFilter::kFirstCapacity * 3 + 17;  // three parts and a bit
  for (uint64_t i = 0; i < n; ++i) f.Add(value(i));
  EXPECT_EQ(f.parts(), 3u);
  for (uint64_t i = 0; i < n; ++i) ASSERT_TRUE(f.MayContain(value(i))) << i;
  size_t false_positives = 0;
  for (uint64_t i = n; i < n + 100000; ++i) false_positives += f.MayContain(value(i)) ? 1 : 0;
  EXPECT_LT(false_positives, 2000u);  // ~0.25 % per full part, three parts
}

}  // namespace
}  // namespace autoseal::ct::internal
