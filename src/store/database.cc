#include "store/database.h"

namespace autoseal::store {
namespace {

std::span<const Value> AsSpan(std::initializer_list<Value> params) {
  return {params.begin(), params.size()};
}

Error WrongType(ValueType expected, ValueType found) {
  return Error(ErrorCode::kDatabase, "expected " + std::string(ValueTypeName(expected)) +
                                         ", found " + std::string(ValueTypeName(found)));
}

}  // namespace

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kNull:
      return "NULL";
    case ValueType::kInteger:
      return "INTEGER";
    case ValueType::kReal:
      return "REAL";
    case ValueType::kText:
      return "TEXT";
    case ValueType::kBlob:
      return "BLOB";
  }
  return "?";
}

Result<int64_t> Value::Int() const {
  if (const auto* v = std::get_if<int64_t>(&value_)) return *v;
  return std::unexpected(WrongType(ValueType::kInteger, type()));
}

Result<double> Value::Real() const {
  if (const auto* v = std::get_if<double>(&value_)) return *v;
  if (const auto* v = std::get_if<int64_t>(&value_)) return static_cast<double>(*v);
  return std::unexpected(WrongType(ValueType::kReal, type()));
}

Result<std::string> Value::Text() const {
  if (const auto* v = std::get_if<std::string>(&value_)) return *v;
  return std::unexpected(WrongType(ValueType::kText, type()));
}

Result<Bytes> Value::Blob() const {
  if (const auto* v = std::get_if<Bytes>(&value_)) return *v;
  return std::unexpected(WrongType(ValueType::kBlob, type()));
}

Row::Row(std::shared_ptr<const std::vector<std::string>> names, std::vector<Value> values)
    : names_(std::move(names)), values_(std::move(values)) {
  CHECK(names_ != nullptr);
  CHECK(names_->size() == values_.size());
}

const Value& Row::operator[](size_t i) const {
  CHECK_MSG(i < values_.size(), "column index out of range");
  return values_[i];
}

const std::string& Row::name(size_t i) const {
  CHECK_MSG(i < values_.size(), "column index out of range");
  return (*names_)[i];
}

Result<size_t> Row::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < names_->size(); ++i) {
    if ((*names_)[i] == name) return i;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "the query returned no column named \"" + std::string(name) + "\"");
}

Result<const Value*> Row::At(size_t column) const {
  if (column >= values_.size()) {
    return Fail(ErrorCode::kInvalidArgument, "the query returned " +
                                                 std::to_string(values_.size()) +
                                                 " columns, no column " + std::to_string(column));
  }
  return &values_[column];
}

namespace {

// Names the column in a conversion error.
template <typename T>
Result<T> InColumn(Result<T> result, size_t column, const std::string& name) {
  if (!result) {
    return std::unexpected(std::move(result).error().WithContext(
        "column " + std::to_string(column) + " (" + name + ")"));
  }
  return result;
}

template <typename T>
Result<std::optional<T>> Nullable(const Value& value, Result<T> (Value::*get)() const) {
  if (value.is_null()) return std::nullopt;
  return TRY((value.*get)());
}

}  // namespace

Result<int64_t> Row::Int(size_t column) const {
  const Value& value = *TRY(At(column));
  return InColumn(value.Int(), column, (*names_)[column]);
}
Result<int64_t> Row::Int(std::string_view column) const { return Int(TRY(IndexOf(column))); }

Result<double> Row::Real(size_t column) const {
  const Value& value = *TRY(At(column));
  return InColumn(value.Real(), column, (*names_)[column]);
}
Result<double> Row::Real(std::string_view column) const { return Real(TRY(IndexOf(column))); }

Result<std::string> Row::Text(size_t column) const {
  const Value& value = *TRY(At(column));
  return InColumn(value.Text(), column, (*names_)[column]);
}
Result<std::string> Row::Text(std::string_view column) const { return Text(TRY(IndexOf(column))); }

Result<Bytes> Row::Blob(size_t column) const {
  const Value& value = *TRY(At(column));
  return InColumn(value.Blob(), column, (*names_)[column]);
}
Result<Bytes> Row::Blob(std::string_view column) const { return Blob(TRY(IndexOf(column))); }

Result<std::optional<int64_t>> Row::NullableInt(size_t column) const {
  const Value& value = *TRY(At(column));
  return InColumn(Nullable(value, &Value::Int), column, (*names_)[column]);
}
Result<std::optional<int64_t>> Row::NullableInt(std::string_view column) const {
  return NullableInt(TRY(IndexOf(column)));
}

Result<std::optional<std::string>> Row::NullableText(size_t column) const {
  const Value& value = *TRY(At(column));
  return InColumn(Nullable(value, &Value::Text), column, (*names_)[column]);
}
Result<std::optional<std::string>> Row::NullableText(std::string_view column) const {
  return NullableText(TRY(IndexOf(column)));
}

Result<std::optional<Bytes>> Row::NullableBlob(size_t column) const {
  const Value& value = *TRY(At(column));
  return InColumn(Nullable(value, &Value::Blob), column, (*names_)[column]);
}
Result<std::optional<Bytes>> Row::NullableBlob(std::string_view column) const {
  return NullableBlob(TRY(IndexOf(column)));
}

Result<bool> Row::IsNull(size_t column) const { return TRY(At(column))->is_null(); }
Result<bool> Row::IsNull(std::string_view column) const { return IsNull(TRY(IndexOf(column))); }

Status Database::Execute(std::string_view sql, std::initializer_list<Value> params) {
  return Execute(sql, AsSpan(params));
}

Status Database::Execute(std::string_view sql, std::span<const Value> params) {
  TRY(DoExecute(sql, params));
  return Ok();
}

Result<int64_t> Database::ExecuteChanges(std::string_view sql,
                                         std::initializer_list<Value> params) {
  return DoExecute(sql, AsSpan(params));
}

Result<int64_t> Database::ExecuteChanges(std::string_view sql, std::span<const Value> params) {
  return DoExecute(sql, params);
}

Result<std::vector<Row>> Database::Query(std::string_view sql,
                                         std::initializer_list<Value> params) {
  return DoQuery(sql, AsSpan(params), SIZE_MAX);
}

Result<std::vector<Row>> Database::Query(std::string_view sql, std::span<const Value> params) {
  return DoQuery(sql, params, SIZE_MAX);
}

Result<std::optional<Row>> Database::QueryRow(std::string_view sql,
                                              std::initializer_list<Value> params) {
  return QueryRow(sql, AsSpan(params));
}

Result<std::optional<Row>> Database::QueryRow(std::string_view sql, std::span<const Value> params) {
  std::vector<Row> rows = TRY(DoQuery(sql, params, 1));
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

Status Database::Transaction(const std::function<Status(Database&)>& fn) {
  return DoTransaction(fn);
}

}  // namespace autoseal::store
