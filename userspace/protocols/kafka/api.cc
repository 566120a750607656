#include "userspace/protocols/kafka/api.h"

#include <array>

namespace ztrace::kafka {
namespace {

constexpr int16_t kNever = 0x7fff;

struct Entry {
  int16_t key;
  ApiInfo info;
};

// Protocol guide, "Api Keys" and each API's request schema ("flexibleVersions").
constexpr std::array<Entry, 65> kApis = {{
    {0, {"Produce", 12, 9}},
    {1, {"Fetch", 17, 12}},
    {2, {"ListOffsets", 10, 6}},
    {3, {"Metadata", 13, 9}},
    {4, {"LeaderAndIsr", 7, 4}},
    {5, {"StopReplica", 4, 2}},
    {6, {"UpdateMetadata", 8, 6}},
    {7, {"ControlledShutdown", 3, 3}},
    {8, {"OffsetCommit", 9, 8}},
    {9, {"OffsetFetch", 9, 6}},
    {10, {"FindCoordinator", 6, 3}},
    {11, {"JoinGroup", 9, 6}},
    {12, {"Heartbeat", 4, 4}},
    {13, {"LeaveGroup", 5, 4}},
    {14, {"SyncGroup", 5, 4}},
    {15, {"DescribeGroups", 6, 5}},
    {16, {"ListGroups", 5, 3}},
    {17, {"SaslHandshake", 1, kNever}},
    {18, {"ApiVersions", 4, 3}},
    {19, {"CreateTopics", 7, 5}},
    {20, {"DeleteTopics", 6, 4}},
    {21, {"DeleteRecords", 2, 2}},
    {22, {"InitProducerId", 5, 2}},
    {23, {"OffsetForLeaderEpoch", 4, 4}},
    {24, {"AddPartitionsToTxn", 5, 3}},
    {25, {"AddOffsetsToTxn", 4, 3}},
    {26, {"EndTxn", 5, 3}},
    {27, {"WriteTxnMarkers", 1, 1}},
    {28, {"TxnOffsetCommit", 5, 3}},
    {29, {"DescribeAcls", 3, 2}},
    {30, {"CreateAcls", 3, 2}},
    {31, {"DeleteAcls", 3, 2}},
    {32, {"DescribeConfigs", 4, 4}},
    {33, {"AlterConfigs", 2, 2}},
    {34, {"AlterReplicaLogDirs", 2, 2}},
    {35, {"DescribeLogDirs", 4, 2}},
    {36, {"SaslAuthenticate", 2, 2}},
    {37, {"CreatePartitions", 3, 2}},
    {38, {"CreateDelegationToken", 3, 2}},
    {39, {"RenewDelegationToken", 2, 2}},
    {40, {"ExpireDelegationToken", 2, 2}},
    {41, {"DescribeDelegationToken", 3, 2}},
    {42, {"DeleteGroups", 2, 2}},
    {43, {"ElectLeaders", 2, 2}},
    {44, {"IncrementalAlterConfigs", 1, 1}},
    {45, {"AlterPartitionReassignments", 0, 0}},
    {46, {"ListPartitionReassignments", 0, 0}},
    {47, {"OffsetDelete", 0, kNever}},
    {48, {"DescribeClientQuotas", 1, 1}},
    {49, {"AlterClientQuotas", 1, 1}},
    {50, {"DescribeUserScramCredentials", 0, 0}},
    {51, {"AlterUserScramCredentials", 0, 0}},
    {55, {"DescribeQuorum", 2, 0}},
    {57, {"UpdateFeatures", 1, 0}},
    {60, {"DescribeCluster", 1, 0}},
    {61, {"DescribeProducers", 0, 0}},
    {64, {"UnregisterBroker", 0, 0}},
    {65, {"DescribeTransactions", 0, 0}},
    {66, {"ListTransactions", 1, 0}},
    {67, {"AllocateProducerIds", 0, 0}},
    {68, {"ConsumerGroupHeartbeat", 0, 0}},
    {69, {"ConsumerGroupDescribe", 0, 0}},
    {71, {"GetTelemetrySubscriptions", 0, 0}},
    {72, {"PushTelemetry", 0, 0}},
    {74, {"ListClientMetricsResources", 0, 0}},
}};

}  // namespace

ApiInfo api_info(int16_t api_key) {
  for (const Entry& entry : kApis) {
    if (entry.key == api_key) return entry.info;
  }
  return {};
}

}  // namespace ztrace::kafka
