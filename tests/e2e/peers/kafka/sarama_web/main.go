// A Go HTTP service whose handler produces with sarama's SyncProducer (Debian's sarama 1.22,
// GOPATH mode), for the Kafka end-to-end tests:
//
//	sarama-web PORT BOOTSTRAP TOPIC
//
// GET /produce/KEY sends one message (KEY, "value-KEY") to partition 0 and answers its offset.
// Protocol version 0.11, as the sarama peer (main.go of ../sarama says why).
package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/Shopify/sarama"
)

func main() {
	port, bootstrap, topic := os.Args[1], os.Args[2], os.Args[3]
	config := sarama.NewConfig()
	config.Version = sarama.V0_11_0_0
	config.ClientID = "sarama-web"
	config.Producer.Return.Successes = true
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer([]string{bootstrap}, config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERR", err)
		os.Exit(1)
	}
	http.HandleFunc("/produce/", func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/produce/")
		_, offset, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Partition: 0, Key: sarama.StringEncoder(key),
			Value: sarama.StringEncoder("value-" + key),
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%s %d\n", key, offset)
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, "ERR", err)
		os.Exit(1)
	}
}
