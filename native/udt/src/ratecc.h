// A rate-based congestion controller for known private links (UDT's CCC extension point).
//
// UDT's native controller (CUDTCC) treats every loss event as congestion and cuts its rate
// by 1/8; on a long link with random loss (RTT 200 ms, 1 %) it spends its time recovering
// and uses a fraction of the pipe. Where the link rate is known (a leased line between
// sites), UDT's author recommends a fixed-rate controller like the examples' CUDPBlast. This
// one sends at the configured rate, shared by all connections to the same peer host that
// are busy, and only backs off when the loss rate over an interval exceeds a threshold far
// above what a healthy WAN shows (so a wrongly configured rate cannot flood a link forever).
// On the receiving side it also repeats loss reports that UDT 4.11 sends only once (see
// onPktReceived in ratecc.cc).
#pragma once

#include <udt/ccc.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace cumulus_udt {

struct RateGroup;

class RateCC : public CCC {
 public:
  RateCC(double mbit, double lossThreshold);
  ~RateCC() override;

  void init() override;
  void onACK(int32_t ack) override;
  void onLoss(const int32_t* losses, int size) override;
  void onPktSent(const CPacket* pkt) override;
  void onPktReceived(const CPacket* pkt) override;

  // Shares the rate with the other connections to `peer` (an IP address); called once the
  // connection is established, before the addon sends anything on it.
  void JoinGroup(const std::string& peer);

 private:
  void Apply();
  double PeriodFor(int shares) const;
  void RepeatNaks(int64_t now);

  const double targetMbit_;
  const double lossThreshold_;
  std::shared_ptr<RateGroup> group_;
  // Set by the UDT send thread, read when the group counts its busy members.
  std::atomic<int64_t> busyUntilNs_{0};
  // Touched only by UDT's threads for this socket (send: onPktSent; receive: onACK/onLoss,
  // which UDT serialises with its own locks for the socket).
  std::atomic<uint32_t> sentSinceMark_{0};
  std::atomic<uint64_t> sent_{0};
  uint64_t lost_ = 0;
  uint64_t sentAtIntervalStart_ = 0;
  int64_t intervalStartNs_ = 0;
  // Back-off factor from the loss guard, 1/16..1.
  std::atomic<double> factor_{1.0};

  // Receiving side (UDT's receive thread only): sequence numbers still missing, with the
  // time they were last reported, so lost loss reports and lost retransmissions are
  // reported again (see RepeatNaks).
  bool haveNext_ = false;
  int32_t next_ = 0;
  std::unordered_map<int32_t, int64_t> missing_;
  int64_t lastScanNs_ = 0;
};

// The factory UDT clones into every socket (accepted sockets clone their listener's).
class RateCCFactory : public CCCVirtualFactory {
 public:
  RateCCFactory(double mbit, double lossThreshold) : mbit_(mbit), lossThreshold_(lossThreshold) {}
  CCC* create() override { return new RateCC(mbit_, lossThreshold_); }
  CCCVirtualFactory* clone() override { return new RateCCFactory(mbit_, lossThreshold_); }

 private:
  double mbit_;
  double lossThreshold_;
};

// If `u` runs a RateCC, puts it into the group of its peer's host. No-op otherwise.
void JoinRateGroup(UDTSOCKET u);

}  // namespace cumulus_udt
