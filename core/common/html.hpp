#pragma once
// Text from data (ids, reasons, group values, model versions) put into the self-contained HTML
// pages of `hitl replay` and `hitl simulate`: one escape for both.
#include <string>
#include <string_view>

namespace hitl {

// & < > " ' as character references; everything else as it is.
std::string escape_html(std::string_view s);

}  // namespace hitl
