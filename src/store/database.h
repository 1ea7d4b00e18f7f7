#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal::store {

// The storage class of a Value, in SQL's words.
enum class ValueType { kNull, kInteger, kReal, kText, kBlob };

// Returns "NULL", "INTEGER", "REAL", "TEXT" or "BLOB".
std::string_view ValueTypeName(ValueType type);

// One SQL value: a statement parameter or a result column. Implicitly constructible from the C++
// types it holds so that parameter lists read `{serial, der, std::nullopt}`. Cheap to move.
class Value {
 public:
  // Constructs SQL NULL.
  Value() = default;
  // Constructs SQL NULL.
  Value(std::nullptr_t) {}
  // Constructs SQL NULL.
  Value(std::nullopt_t) {}
  // Constructs an INTEGER; bool is stored as 0 or 1. Values above INT64_MAX are a bug (CHECK).
  template <std::integral T>
  Value(T v) : value_(ToInt64(v)) {}
  // Constructs a REAL.
  Value(double v) : value_(v) {}
  // Constructs TEXT (a null pointer gives SQL NULL).
  Value(const char* v) {
    if (v != nullptr) value_ = std::string(v);
  }
  // Constructs TEXT.
  Value(std::string v) : value_(std::move(v)) {}
  // Constructs TEXT (copies).
  Value(std::string_view v) : value_(std::string(v)) {}
  // Constructs a BLOB.
  Value(Bytes v) : value_(std::move(v)) {}
  // Constructs a BLOB (copies).
  Value(ByteView v) : value_(Bytes(v.begin(), v.end())) {}
  // Constructs SQL NULL for an empty optional, else the value it holds.
  template <typename T>
  Value(const std::optional<T>& v) {
    if (v.has_value()) *this = Value(*v);
  }

  // Returns the storage class held.
  ValueType type() const { return static_cast<ValueType>(value_.index()); }
  // Returns true for SQL NULL.
  bool is_null() const { return type() == ValueType::kNull; }

  // Returns the INTEGER held; kDatabase if the value is of another type (NULL included).
  Result<int64_t> Int() const;
  // Returns the REAL held, or an INTEGER converted; kDatabase for other types.
  Result<double> Real() const;
  // Returns the TEXT held; kDatabase for other types.
  Result<std::string> Text() const;
  // Returns the BLOB held; kDatabase for other types.
  Result<Bytes> Blob() const;

  // Returns the TEXT held without copying, or nullptr for other types.
  const std::string* text_if() const { return std::get_if<std::string>(&value_); }
  // Returns the BLOB held without copying, or nullptr for other types.
  const Bytes* blob_if() const { return std::get_if<Bytes>(&value_); }

  // Compares type and content.
  friend bool operator==(const Value&, const Value&) = default;

 private:
  template <std::integral T>
  static int64_t ToInt64(T v) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      CHECK_MSG(v <= static_cast<T>(INT64_MAX), "unsigned value does not fit a SQL INTEGER");
    }
    return static_cast<int64_t>(v);
  }

  // The alternatives are in ValueType order.
  std::variant<std::monostate, int64_t, double, std::string, Bytes> value_;
};

// One result row: values addressable by column index or by column name. Typed accessors fail
// with kDatabase naming the column when the stored type differs, or kInvalidArgument for a
// column the query did not return.
class Row {
 public:
  // Constructs a row over shared column names; values.size() must equal names->size().
  Row(std::shared_ptr<const std::vector<std::string>> names, std::vector<Value> values);

  // Returns the number of columns.
  size_t size() const { return values_.size(); }
  // Returns the value of column i; i >= size() is a bug (CHECK).
  const Value& operator[](size_t i) const;
  // Returns the name of column i as the query spelled it (after AS); i >= size() is a bug.
  const std::string& name(size_t i) const;
  // Returns the index of the column named name (exact match), or kInvalidArgument.
  Result<size_t> IndexOf(std::string_view name) const;

  // Returns the INTEGER in the column.
  Result<int64_t> Int(size_t column) const;
  Result<int64_t> Int(std::string_view column) const;
  // Returns the REAL (or INTEGER, converted) in the column.
  Result<double> Real(size_t column) const;
  Result<double> Real(std::string_view column) const;
  // Returns the TEXT in the column.
  Result<std::string> Text(size_t column) const;
  Result<std::string> Text(std::string_view column) const;
  // Returns the BLOB in the column.
  Result<Bytes> Blob(size_t column) const;
  Result<Bytes> Blob(std::string_view column) const;
  // Returns the INTEGER in the column, or nullopt for NULL.
  Result<std::optional<int64_t>> NullableInt(size_t column) const;
  Result<std::optional<int64_t>> NullableInt(std::string_view column) const;
  // Returns the TEXT in the column, or nullopt for NULL.
  Result<std::optional<std::string>> NullableText(size_t column) const;
  Result<std::optional<std::string>> NullableText(std::string_view column) const;
  // Returns the BLOB in the column, or nullopt for NULL.
  Result<std::optional<Bytes>> NullableBlob(size_t column) const;
  Result<std::optional<Bytes>> NullableBlob(std::string_view column) const;
  // Returns whether the column holds NULL; kInvalidArgument for a column the query did not return.
  Result<bool> IsNull(size_t column) const;
  Result<bool> IsNull(std::string_view column) const;

 private:
  Result<const Value*> At(size_t column) const;

  std::shared_ptr<const std::vector<std::string>> names_;
  std::vector<Value> values_;
};

// A SQL database: the store every service keeps its state in. SQL is written with positional `?`
// placeholders and the common subset of SQLite and PostgreSQL (use `RETURNING` to learn generated
// ids); each backend translates placeholders as it needs. Every method is thread-safe unless the
// implementation says otherwise; errors are kDatabase with the backend's message, except a
// UNIQUE or PRIMARY KEY violation, which is kAlreadyExists so callers can detect duplicates.
class Database {
 public:
  virtual ~Database() = default;

  // Runs one statement with parameters bound to its `?` placeholders in order.
  Status Execute(std::string_view sql, std::initializer_list<Value> params = {});
  Status Execute(std::string_view sql, std::span<const Value> params);

  // Runs one statement and returns how many rows it inserted, updated or deleted (use it for
  // compare-and-set updates such as `UPDATE ... WHERE state = 'pending'`).
  Result<int64_t> ExecuteChanges(std::string_view sql, std::initializer_list<Value> params = {});
  Result<int64_t> ExecuteChanges(std::string_view sql, std::span<const Value> params);

  // Runs one statement and returns all the rows it produced.
  Result<std::vector<Row>> Query(std::string_view sql, std::initializer_list<Value> params = {});
  Result<std::vector<Row>> Query(std::string_view sql, std::span<const Value> params);

  // Runs one statement and returns its first row, or nullopt when it produced none.
  Result<std::optional<Row>> QueryRow(std::string_view sql,
                                      std::initializer_list<Value> params = {});
  Result<std::optional<Row>> QueryRow(std::string_view sql, std::span<const Value> params);

  // Runs fn inside a transaction and commits if it returns success, rolls back (leaving nothing
  // of its writes) if it returns an error, and returns fn's error or the commit's. Writers are
  // serialised: the transaction takes the write lock when it begins (SQLite: BEGIN IMMEDIATE),
  // so a read-modify-write inside fn cannot lose an update. fn must use only the Database& it is
  // given, and only while it runs; calling Transaction on that Database& nests (a savepoint).
  // Using the outer Database from inside fn is a bug (CHECK). An implementation may run fn on
  // another thread while the caller waits (SQLite's group commit does), so fn must not rely on
  // thread-local state or take a lock its caller holds.
  Status Transaction(const std::function<Status(Database&)>& fn);

 protected:
  // Runs one statement; returns the number of rows changed.
  virtual Result<int64_t> DoExecute(std::string_view sql, std::span<const Value> params) = 0;
  // Runs one statement; returns at most max_rows rows.
  virtual Result<std::vector<Row>> DoQuery(std::string_view sql, std::span<const Value> params,
                                           size_t max_rows) = 0;
  // Runs fn in a transaction as Transaction() describes.
  virtual Status DoTransaction(const std::function<Status(Database&)>& fn) = 0;
};

}  // namespace autoseal::store
