#include "pg_copy.hpp"

#include <pqxx/tablewriter>

namespace hitl::pg {

namespace {

// Rows are sent in blocks of about this many bytes: one CopyData message each instead of one
// per row (the COPY stream does not care where its messages end).
constexpr std::size_t kBlockBytes = 64 * 1024;

// COPY text format: a backslash, and the tab, newline and carriage return that separate
// fields and rows, are written as escapes. Byte by byte is safe in UTF-8, the client encoding
// the plugins' text is in: no byte of a multi-byte character is ASCII.
void append_escaped(std::string& out, const std::string& field) {
  std::size_t plain_from = 0;  // the run of bytes since the last escape goes in with one append
  for (std::size_t i = 0; i < field.size(); ++i) {
    const char* escape = nullptr;
    switch (field[i]) {
      case '\\': escape = "\\\\"; break;
      case '\t': escape = "\\t"; break;
      case '\n': escape = "\\n"; break;
      case '\r': escape = "\\r"; break;
      default: continue;
    }
    out.append(field, plain_from, i - plain_from).append(escape);
    plain_from = i + 1;
  }
  out.append(field, plain_from, std::string::npos);
}

}  // namespace

// libpqxx 6 (Debian 12) has no public way to send a formatted COPY line but tablewriter, which
// it marks deprecated in favour of stream_to, whose 6.x version takes fixed-size tuples only
// (and escapes field by field into new strings). libpqxx 7's stream_to takes a row of strings.
#if PQXX_VERSION_MAJOR < 7
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct CopyIn::Stream {
  Stream(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns)
      : writer(tx, table, columns.begin(), columns.end()) {}
  pqxx::tablewriter writer;
  void send(const std::string& escaped_rows) { writer.write_raw_line(escaped_rows); }
  void complete() { writer.complete(); }
};
#pragma GCC diagnostic pop
#else
#error "postgres-support's COPY (pg_copy.cpp) is written for libpqxx 6 (Debian 12); port CopyIn::Stream to libpqxx 7's stream_to"
#endif

CopyIn::CopyIn(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns)
    : stream_(std::make_unique<Stream>(tx, table, columns)) {
  block_.reserve(kBlockBytes + 4096);
}

CopyIn::~CopyIn() = default;

void CopyIn::add_row(const std::vector<std::string>& fields) {
  if (!block_.empty()) block_ += '\n';
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) block_ += '\t';
    append_escaped(block_, fields[i]);
  }
  if (block_.size() >= kBlockBytes) flush();
}

void CopyIn::flush() {
  if (block_.empty()) return;
  stream_->send(block_);  // the stream ends it with '\n'
  block_.clear();
}

void CopyIn::complete() {
  flush();
  stream_->complete();
}

}  // namespace hitl::pg
