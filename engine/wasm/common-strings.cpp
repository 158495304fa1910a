// string_join/split/repeat, declared in llama.cpp's common.h. The JSON-schema converter
// (common/json-schema-to-grammar.cpp) needs only these three; common.cpp itself would drag in
// all of common (sampling, logging, model fitting). Same behaviour as common.cpp.
#include <sstream>
#include <string>
#include <vector>

std::string string_join(const std::vector<std::string> & values, const std::string & separator) {
    std::ostringstream out;
    for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out << separator;
        out << values[i];
    }
    return out.str();
}

std::vector<std::string> string_split(const std::string & str, const std::string & delimiter) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t end = str.find(delimiter); end != std::string::npos; end = str.find(delimiter, start)) {
        parts.push_back(str.substr(start, end - start));
        start = end + delimiter.length();
    }
    parts.push_back(str.substr(start));
    return parts;
}

std::string string_repeat(const std::string & str, size_t n) {
    std::string out;
    out.reserve(str.length() * n);
    for (size_t i = 0; i < n; ++i) out += str;
    return out;
}
