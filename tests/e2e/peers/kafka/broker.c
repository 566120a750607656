/* A Kafka broker on loopback for the end-to-end tests: librdkafka's mock cluster (Confluent's
 * broker-side implementation of the protocol, which librdkafka is tested against). Prints its
 * bootstrap address, then lives argv[1] seconds (the tests stop it sooner). Topics named in
 * argv[2..] are created with 2 partitions; others are created on first use. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
  if (!mc) {
    fprintf(stderr, "mock cluster failed\n");
    return 1;
  }
  for (int i = 2; i < argc; ++i) rd_kafka_mock_topic_create(mc, argv[i], 2, 1);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  sleep(argc > 1 ? atoi(argv[1]) : 120);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
