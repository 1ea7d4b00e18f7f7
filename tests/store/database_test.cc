#include "store/database.h"

#include <gtest/gtest.h>

namespace autoseal::store {
namespace {

Row MakeRow() {
  auto names = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"id", "name", "der", "note", "score"});
  return Row(names, {int64_t{7}, "example.com", Bytes{0, 1, 2}, nullptr, 2.5});
}

TEST(ValueTest, ConstructorsPickTheSqlType) {
  EXPECT_EQ(Value().type(), ValueType::kNull);
  EXPECT_EQ(Value(nullptr).type(), ValueType::kNull);
  EXPECT_EQ(Value(std::nullopt).type(), ValueType::kNull);
  EXPECT_EQ(Value(std::optional<int>()).type(), ValueType::kNull);
  EXPECT_EQ(Value(static_cast<const char*>(nullptr)).type(), ValueType::kNull);
  EXPECT_EQ(Value(42).type(), ValueType::kInteger);
  EXPECT_EQ(Value(uint32_t{42}).type(), ValueType::kInteger);
  EXPECT_EQ(Value(true), Value(1));
  EXPECT_EQ(Value(std::optional<int>(5)), Value(5));
  EXPECT_EQ(Value(1.5).type(), ValueType::kReal);
  EXPECT_EQ(Value("text").type(), ValueType::kText);
  EXPECT_EQ(Value(std::string_view("text")), Value(std::string("text")));
  EXPECT_EQ(Value(Bytes{1, 2}).type(), ValueType::kBlob);
  const uint8_t raw[] = {1, 2};
  EXPECT_EQ(Value(ByteView(raw)), Value(Bytes{1, 2}));
  // Same bytes, different types: TEXT and BLOB are not interchangeable.
  EXPECT_NE(Value("ab"), Value(ToBytes("ab")));
}

TEST(ValueTest, WrongTypeIsAnErrorNotAnException) {
  auto text = Value(5).Text();
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code(), ErrorCode::kDatabase);
  EXPECT_NE(text.error().message().find("expected TEXT, found INTEGER"), std::string::npos);
  EXPECT_FALSE(Value().Int().has_value());
  EXPECT_FALSE(Value("1").Int().has_value());
  EXPECT_FALSE(Value("ab").Blob().has_value());
  EXPECT_EQ(*Value(3).Real(), 3.0);  // INTEGER widens to REAL
}

TEST(RowTest, ColumnsByIndexAndByName) {
  Row row = MakeRow();
  ASSERT_EQ(row.size(), 5u);
  EXPECT_EQ(*row.Int(0), 7);
  EXPECT_EQ(*row.Int("id"), 7);
  EXPECT_EQ(*row.Text("name"), "example.com");
  EXPECT_EQ(*row.Blob(2), (Bytes{0, 1, 2}));
  EXPECT_EQ(*row.Real("score"), 2.5);
  EXPECT_TRUE(*row.IsNull("note"));
  EXPECT_FALSE(*row.IsNull(0));
  EXPECT_EQ(row.name(1), "name");
  EXPECT_EQ(row[1], Value("example.com"));
}

TEST(RowTest, NullableAccessorsMapNullToNullopt) {
  Row row = MakeRow();
  EXPECT_EQ(*row.NullableText("note"), std::nullopt);
  EXPECT_EQ(*row.NullableInt("note"), std::nullopt);
  EXPECT_EQ(*row.NullableBlob("note"), std::nullopt);
  EXPECT_EQ(*row.NullableInt("id"), 7);
  // NULL is not a type error for Nullable*, but a wrong non-NULL type still is.
  EXPECT_FALSE(row.NullableInt("name").has_value());
  // The non-nullable accessor refuses NULL.
  EXPECT_FALSE(row.Text("note").has_value());
}

TEST(RowTest, ErrorsNameTheColumn) {
  Row row = MakeRow();
  auto wrong = row.Int("name");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kDatabase);
  EXPECT_NE(wrong.error().message().find("column 1 (name)"), std::string::npos)
      << wrong.error().message();

  auto missing = row.Text("nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(missing.error().message().find("nope"), std::string::npos);

  auto out_of_range = row.Text(size_t{9});
  ASSERT_FALSE(out_of_range.has_value());
  EXPECT_EQ(out_of_range.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(row.IsNull(size_t{5}).has_value());
}

}  // namespace
}  // namespace autoseal::store
