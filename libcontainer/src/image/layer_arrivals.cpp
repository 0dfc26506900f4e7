#include "layer_arrivals.h"

#include "cocoon/error.h"

namespace cocoon {

LayerArrivals::LayerArrivals(size_t layers)
    : arrived_(layers, false)
{}

void LayerArrivals::arrived(size_t index)
{
    {
        std::lock_guard lock(mutex_);
        arrived_.at(index) = true;
    }
    changed_.notify_all();
}

void LayerArrivals::failed(const std::string& reason)
{
    {
        std::lock_guard lock(mutex_);
        failure_ = reason;
    }
    changed_.notify_all();
}

void LayerArrivals::cancel()
{
    {
        std::lock_guard lock(mutex_);
        cancelled_ = true;
    }
    changed_.notify_all();
}

bool LayerArrivals::cancelled() const
{
    std::lock_guard lock(mutex_);
    return cancelled_;
}

bool LayerArrivals::wait(size_t index)
{
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return arrived_.at(index) || failure_ || cancelled_; });
    if (arrived_[index])
        return true;
    if (cancelled_)
        return false;
    throw Error(*failure_);
}

} // namespace cocoon
