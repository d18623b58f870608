#include "meta/sql_session.h"

#include <charconv>

#include "core/errors.h"

namespace imgd {

const std::optional<std::string>& SqlRows::Cell(size_t row, int col) const {
  const size_t i = row * static_cast<size_t>(columns_) + static_cast<size_t>(col);
  if (col < 0 || col >= columns_ || i >= cells_.size()) {
    throw StoreError("sql: no cell at row " + std::to_string(row) + ", column " +
                     std::to_string(col));
  }
  return cells_[i];
}

const std::string& SqlRows::Text(size_t row, int col) const {
  static const std::string kEmpty;
  const auto& cell = Cell(row, col);
  return cell ? *cell : kEmpty;
}

int64_t SqlRows::Int(size_t row, int col) const {
  const auto& cell = Cell(row, col);
  if (!cell) return 0;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(cell->data(), cell->data() + cell->size(), v);
  if (ec != std::errc() || end != cell->data() + cell->size()) {
    throw StoreError("sql: not an integer: " + cell->substr(0, 40));
  }
  return v;
}

}  // namespace imgd
