// Go sarama (Debian's, GOPATH mode) peer of the Kafka end-to-end tests:
//
//	sarama-peer BOOTSTRAP TOPIC N TRACEPARENT
//
// sends N messages (key-i, with a traceparent header) in one SendMessages to partition 0 with
// the protocol version 0.11 (Produce v3, Fetch v5), then reads them back with a partition
// consumer from the oldest offset; prints "sent OFFSET" and "got OFFSET KEY" lines.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

func main() {
	bootstrap, topic := os.Args[1], os.Args[2]
	n, _ := strconv.Atoi(os.Args[3])
	config := sarama.NewConfig()
	config.Version = sarama.V0_11_0_0
	config.ClientID = "sarama-peer"
	config.Producer.Return.Successes = true
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Partitioner = sarama.NewManualPartitioner
	config.Producer.Flush.Messages = n
	config.Producer.Flush.Frequency = 200 * time.Millisecond
	producer, err := sarama.NewSyncProducer([]string{bootstrap}, config)
	if err != nil {
		fail(err)
	}
	var messages []*sarama.ProducerMessage
	for i := 0; i < n; i++ {
		messages = append(messages, &sarama.ProducerMessage{
			Topic: topic, Partition: 0, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
			Value:   sarama.StringEncoder("value"),
			Headers: []sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte(os.Args[4])}},
		})
	}
	if err := producer.SendMessages(messages); err != nil {
		fail(err)
	}
	for _, m := range messages {
		fmt.Println("sent", m.Offset)
	}
	producer.Close()

	consumer, err := sarama.NewConsumer([]string{bootstrap}, config)
	if err != nil {
		fail(err)
	}
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		fail(err)
	}
	for got := 0; got < n; got++ {
		select {
		case m := <-pc.Messages():
			fmt.Println("got", m.Offset, string(m.Key))
		case <-time.After(20 * time.Second):
			fail(fmt.Errorf("timed out after %d messages", got))
		}
	}
	pc.Close()
	consumer.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ERR", err)
	os.Exit(1)
}
