#pragma once
// SHA-256 (OpenSSL EVP) as lowercase hex, and random tokens.
#include <string>
#include <string_view>

namespace hitl {

std::string sha256_hex(std::string_view data);

// Lowercase hex of `n` bytes (digests, MACs).
std::string to_hex(const unsigned char* p, std::size_t n);

// `bytes` random bytes from the OS CSPRNG, hex encoded (2 * bytes characters).
std::string random_hex(std::size_t bytes);

}  // namespace hitl
