// DataReader on arbitrary content, fed whole and in pieces: no crash, and the same result
// wherever the pieces are cut (the network decides the cuts, not the client).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/data_reader.h"

namespace {

struct Result {
  size_t consumed = 0;
  bool ended = false;
  herald::ContentProblem problem = herald::ContentProblem::none;
  std::string content;
};

Result read_data(std::string_view input, size_t piece) {
  herald::DataReader reader(4096, 1000);
  Result result;
  for (size_t at = 0; at < input.size() && !reader.data_ended(); at += piece) {
    result.consumed += reader.feed_data(input.substr(at, piece));
  }
  result.ended = reader.data_ended();
  result.problem = reader.problem();
  result.content = reader.content();
  return result;
}

Result read_chunks(std::string_view input, size_t piece) {
  herald::DataReader reader(4096, 1000);
  for (size_t at = 0; at < input.size(); at += piece) reader.feed_chunk(input.substr(at, piece));
  reader.end_chunks();
  return Result{input.size(), true, reader.problem(), reader.content()};
}

bool same(const Result& a, const Result& b) {
  return a.consumed == b.consumed && a.ended == b.ended && a.problem == b.problem &&
         a.content == b.content;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first octet picks the piece size; the rest is what the client sends.
  const size_t piece = 1 + data[0] % 16;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  const Result whole = read_data(input, input.size() + 1);
  if (!same(whole, read_data(input, piece))) __builtin_trap();
  if (whole.ended && whole.consumed > input.size()) __builtin_trap();
  if (whole.problem != herald::ContentProblem::none && !whole.content.empty()) __builtin_trap();

  if (!same(read_chunks(input, input.size() + 1), read_chunks(input, piece))) __builtin_trap();
  return 0;
}
