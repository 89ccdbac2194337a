// What the extension was built with, for fastmlp.build_info().
#pragma once
#include <map>
#include <string>

namespace fastmlp {
std::map<std::string, std::string> build_info();
}
