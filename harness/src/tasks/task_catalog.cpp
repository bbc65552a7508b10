#include "tasks/task.hpp"

namespace rpcbench {

TaskCatalog::TaskCatalog() {
  tasks_.push_back(make_mi_task());
  tasks_.push_back(make_contrastive_task());
  tasks_.push_back(make_cpc_task());
}

const Task* TaskCatalog::find(const std::string& name) const {
  for (const auto& t : tasks_)
    if (t->name() == name) return t.get();
  return nullptr;
}

std::string TaskCatalog::names() const {
  std::string out;
  for (const auto& t : tasks_) out += (out.empty() ? "" : ", ") + t->name();
  return out;
}

}  // namespace rpcbench
