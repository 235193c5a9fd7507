#include "ratecc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace cumulus_udt {

namespace {

// A connection counts as busy for this long after it sent a batch of packets; an idle
// pooled connection or one that only sent a short answer does not take a share.
constexpr int64_t kBusyNs = 50'000'000;
// A new connection counts as busy from the start, so connections that open together split
// the rate before any of them has sent a batch.
constexpr int64_t kStartBusyNs = 300'000'000;
constexpr uint32_t kBusyBatch = 32;
// The loss guard looks at intervals of at least this long (and at least two RTTs).
constexpr int64_t kMinIntervalNs = 100'000'000;
// Fewer packets than this in an interval say nothing about the loss rate.
constexpr uint64_t kMinSample = 200;
constexpr double kMinFactor = 1.0 / 16;
// Large enough never to be the limit: UDT takes the smaller of this and the receiver's
// flow window, which UDT_RCVBUF/UDT_FC size to the bandwidth-delay product.
constexpr double kWindowPackets = 1e7;

// CSeqNo::seqlen, whose constant libudt does not export: packets from a to b inclusive, on
// UDT's 31-bit sequence space.
uint64_t SeqLen(int32_t a, int32_t b) {
  return a <= b ? uint64_t(b - a) + 1 : uint64_t(int64_t(b) - a + 0x7FFFFFFF) + 2;
}

// Signed distance from a to b on UDT's 31-bit sequence space (CSeqNo::seqoff).
int32_t SeqOff(int32_t a, int32_t b) {
  constexpr int32_t kMax = 0x7FFFFFFF;
  constexpr int32_t kThreshold = 0x3FFFFFFF;
  if (std::abs(int64_t(a) - b) < kThreshold) return b - a;
  if (a < b) return int32_t(int64_t(b) - a - kMax - 1);
  return int32_t(int64_t(b) - a + kMax + 1);
}

int32_t SeqInc(int32_t s) { return s == 0x7FFFFFFF ? 0 : s + 1; }

// The memory layout of UDT 4.11's CPacket (packet.h: five reference members aliasing the
// header and payload, the header words, the send vector). libudt does not export CPacket's
// constructor, so a control packet for CCC::sendCustomMsg is built in this mirror.
struct RawPacket {
  int32_t* seqNo;
  int32_t* msgNo;
  int32_t* timeStamp;
  int32_t* id;
  char** data;
  uint32_t header[4];
  iovec vec[2];
  int32_t pad;
};
static_assert(sizeof(RawPacket) == sizeof(CPacket), "CPacket layout differs from UDT 4.11");
// Loss reports beyond this are left to UDT's own timeout; a report fits one packet.
constexpr size_t kMaxMissing = 200'000;
constexpr size_t kMaxNakWords = 256;
constexpr int64_t kNakScanNs = 5'000'000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct RateGroup {
  std::mutex mu;
  std::vector<RateCC*> members;
};

namespace {

std::mutex g_groupsMutex;
std::map<std::string, std::weak_ptr<RateGroup>>& Groups() {
  // Leaked on purpose, like the addon's registry: sockets may be destroyed by UDT's garbage
  // collector while static destructors run.
  static auto* groups = new std::map<std::string, std::weak_ptr<RateGroup>>();
  return *groups;
}

std::shared_ptr<RateGroup> GroupFor(const std::string& peer) {
  std::lock_guard<std::mutex> lock(g_groupsMutex);
  auto& groups = Groups();
  for (auto it = groups.begin(); it != groups.end();) {
    it = it->second.expired() ? groups.erase(it) : std::next(it);
  }
  auto& slot = groups[peer];
  auto g = slot.lock();
  if (!g) {
    g = std::make_shared<RateGroup>();
    slot = g;
  }
  return g;
}

// The addon builds without RTTI, so a socket's CCC is recognised as a RateCC by address.
std::mutex g_liveMutex;
std::set<const RateCC*>& Live() {
  static auto* live = new std::set<const RateCC*>();
  return *live;
}

}  // namespace

RateCC::RateCC(double mbit, double lossThreshold) : targetMbit_(mbit), lossThreshold_(lossThreshold) {
  std::lock_guard<std::mutex> lock(g_liveMutex);
  Live().insert(this);
}

RateCC::~RateCC() {
  {
    std::lock_guard<std::mutex> lock(g_liveMutex);
    Live().erase(this);
  }
  if (!group_) return;
  std::lock_guard<std::mutex> lock(group_->mu);
  auto& v = group_->members;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
}

void RateCC::init() {
  m_dCWndSize = kWindowPackets;
  int64_t now = NowNs();
  intervalStartNs_ = now;
  busyUntilNs_.store(now + kStartBusyNs, std::memory_order_relaxed);
  // The peer (and so the group) is not known yet: share with every busy connection of the
  // process until the first acknowledgement, which errs on the slow side for one RTT
  // rather than flooding the link when several connections open at once.
  int others = 0;
  {
    std::lock_guard<std::mutex> lock(g_liveMutex);
    for (const RateCC* cc : Live()) {
      if (cc != this && cc->busyUntilNs_.load(std::memory_order_relaxed) > now) others++;
    }
  }
  m_dPktSndPeriod = (m_iMSS * 8.0) / (targetMbit_ / (1 + others));
}

void RateCC::JoinGroup(const std::string& peer) {
  group_ = GroupFor(peer);
  {
    std::lock_guard<std::mutex> lock(group_->mu);
    group_->members.push_back(this);
  }
  Apply();
}

double RateCC::PeriodFor(int shares) const {
  // m_iMSS counts the IP and UDP headers, so this paces IP-level bits.
  double mbit = targetMbit_ * factor_.load(std::memory_order_relaxed) / std::max(1, shares);
  return (m_iMSS * 8.0) / mbit;
}

// Sets the period of every connection in the group: a busy one gets 1/busy of the rate, an
// idle one the share it will have once it starts. UDT copies the period into the socket
// every 10 ms (CUDT::checkTimers), idle or not, so a pooled connection that starts its next
// chunk starts at its share rather than at whatever rate it had when it last sent. The
// period is a plain double UDT reads on its receive thread; it is written here from
// whichever thread revises the shares (8-byte aligned stores, and every writer computes it
// the same way).
void RateCC::Apply() {
  if (!group_) {
    m_dPktSndPeriod = PeriodFor(1);
    return;
  }
  int64_t now = NowNs();
  std::lock_guard<std::mutex> lock(group_->mu);
  int busy = 0;
  for (const RateCC* m : group_->members) {
    if (m->busyUntilNs_.load(std::memory_order_relaxed) > now) busy++;
  }
  for (RateCC* m : group_->members) {
    bool isBusy = m->busyUntilNs_.load(std::memory_order_relaxed) > now;
    m->m_dPktSndPeriod = m->PeriodFor(isBusy ? busy : busy + 1);
  }
}

void RateCC::onPktSent(const CPacket*) {
  sent_.fetch_add(1, std::memory_order_relaxed);
  if (sentSinceMark_.fetch_add(1, std::memory_order_relaxed) + 1 >= kBusyBatch) {
    sentSinceMark_.store(0, std::memory_order_relaxed);
    int64_t now = NowNs();
    busyUntilNs_.store(now + kBusyNs, std::memory_order_relaxed);
    // Revise the share here too, not only when an ACK comes back an RTT later: when several
    // pooled connections start their next chunk together, each must drop to its share at
    // once (UDT picks the new period up within 10 ms, in CUDT::checkTimers). UDT's receive
    // thread writes the period in onACK as well; both write a value computed the same way.
    Apply();
  }
}

void RateCC::onLoss(const int32_t* losses, int size) {
  for (int i = 0; i < size; i++) {
    if ((losses[i] & 0x80000000) != 0 && i + 1 < size) {
      lost_ += SeqLen(losses[i] & 0x7FFFFFFF, losses[i + 1]);
      i++;
    } else {
      lost_ += 1;
    }
  }
}

void RateCC::onACK(int32_t) {
  int64_t now = NowNs();
  int64_t interval = std::max<int64_t>(kMinIntervalNs, 2 * int64_t(m_iRTT) * 1000);
  if (now - intervalStartNs_ >= interval) {
    uint64_t sent = sent_.load(std::memory_order_relaxed) - sentAtIntervalStart_;
    if (sent >= kMinSample) {
      double rate = double(lost_) / double(sent);
      if (rate > lossThreshold_) {
        factor_.store(std::max(kMinFactor, factor_.load() * 0.875));
      } else if (rate < lossThreshold_ / 2) {
        factor_.store(std::min(1.0, factor_.load() + 0.125));
      }
    }
    lost_ = 0;
    sentAtIntervalStart_ = sent_.load(std::memory_order_relaxed);
    intervalStartNs_ = now;
  }
  // The share changes as other connections to the same peer start and stop.
  Apply();
}

// UDT 4.11 reports a loss once, when the gap appears, and no longer repeats loss reports
// ("rely on the sender's EXP for retransmission", core.cpp). On a lossy link that is
// expensive: a lost report or a lost retransmission leaves a hole that the cumulative ACK
// cannot pass, and only when the flow pauses does the sender's expiry timer fire and resend
// everything after the hole (at 1 % loss each way, a fifth of all packets sent were such
// resends). So the receiving side remembers what is missing and reports it again once a
// retransmission is overdue (twice the RTT), as a regular NAK that UDT's sender handles.
void RateCC::onPktReceived(const CPacket* pkt) {
  // Read through the layout mirror: CPacket's accessors are not exported either.
  const auto* raw = reinterpret_cast<const RawPacket*>(pkt);
  if ((raw->header[0] & 0x80000000u) != 0) return;
  int32_t seq = int32_t(raw->header[0]);
  int64_t now = NowNs();
  if (!haveNext_) {
    haveNext_ = true;
    next_ = SeqInc(seq);
    lastScanNs_ = now;
    return;
  }
  int32_t off = SeqOff(next_, seq);
  if (off == 0) {
    next_ = SeqInc(seq);
  } else if (off > 0) {
    if (missing_.size() + size_t(off) > kMaxMissing) {
      missing_.clear();
    } else {
      // UDT sends the first report for this gap right away.
      for (int32_t s = next_; s != seq; s = SeqInc(s)) missing_[s] = now;
    }
    next_ = SeqInc(seq);
  } else if (!missing_.empty()) {
    missing_.erase(seq);
  }
  if (!missing_.empty() && now - lastScanNs_ >= kNakScanNs) RepeatNaks(now);
}

void RateCC::RepeatNaks(int64_t now) {
  lastScanNs_ = now;
  int64_t overdue = std::max<int64_t>(20'000'000, 2 * int64_t(m_iRTT) * 1000);
  std::vector<int32_t> due;
  for (auto& [seq, at] : missing_) {
    if (now - at < overdue) continue;
    due.push_back(seq);
    if (due.size() >= kMaxNakWords / 2) break;
  }
  if (due.empty()) return;
  std::sort(due.begin(), due.end(), [this](int32_t a, int32_t b) { return SeqOff(next_, a) < SeqOff(next_, b); });
  // UDT's compressed loss list: a single number, or a range as (first | 1 << 31, last).
  std::vector<int32_t> words;
  for (size_t i = 0; i < due.size();) {
    size_t j = i;
    while (j + 1 < due.size() && due[j + 1] == SeqInc(due[j])) j++;
    if (j == i) {
      words.push_back(due[i]);
    } else {
      words.push_back(int32_t(uint32_t(due[i]) | 0x80000000u));
      words.push_back(due[j]);
    }
    for (size_t k = i; k <= j; k++) missing_[due[k]] = now;
    i = j + 1;
  }
  RawPacket raw;
  std::memset(&raw, 0, sizeof(raw));
  raw.seqNo = reinterpret_cast<int32_t*>(&raw.header[0]);
  raw.msgNo = reinterpret_cast<int32_t*>(&raw.header[1]);
  raw.timeStamp = reinterpret_cast<int32_t*>(&raw.header[2]);
  raw.id = reinterpret_cast<int32_t*>(&raw.header[3]);
  raw.data = reinterpret_cast<char**>(&raw.vec[1].iov_base);
  raw.header[0] = 0x80000000u | (3u << 16);  // control packet, type 3: loss report
  raw.vec[0].iov_base = raw.header;
  raw.vec[0].iov_len = sizeof(raw.header);
  raw.vec[1].iov_base = words.data();
  raw.vec[1].iov_len = words.size() * sizeof(int32_t);
  sendCustomMsg(*reinterpret_cast<CPacket*>(&raw));
}

void JoinRateGroup(UDTSOCKET u) {
  CCC* cc = nullptr;
  int len = sizeof(cc);
  if (UDT::getsockopt(u, 0, UDT_CC, &cc, &len) == UDT::ERROR) {
    UDT::getlasterror().clear();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(g_liveMutex);
    if (cc == nullptr || Live().count(static_cast<RateCC*>(cc)) == 0) return;
  }
  auto* rate = static_cast<RateCC*>(cc);
  sockaddr_storage addr;
  int alen = sizeof(addr);
  std::memset(&addr, 0, sizeof(addr));
  if (UDT::getpeername(u, reinterpret_cast<sockaddr*>(&addr), &alen) == UDT::ERROR) {
    UDT::getlasterror().clear();
    return;
  }
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof(text));
  }
  rate->JoinGroup(text);
}

}  // namespace cumulus_udt
