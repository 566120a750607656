// An HTTP service whose handler produces with kafkajs: GET /produce/KEY sends one message
// (key KEY) to topic TOPIC, partition 0, and answers 200 with its offset once the broker
// acknowledged it.
//   node kafkajs_web.js PORT BOOTSTRAP TOPIC      (prints "ready" once the producer connected)
const http = require('http');
const {Kafka, logLevel} = require('kafkajs');

const [port, bootstrap, topic] = process.argv.slice(2);
const kafka = new Kafka({clientId: 'kjs-web', brokers: [bootstrap], logLevel: logLevel.NOTHING});
const producer = kafka.producer();

(async () => {
  await producer.connect();
  http.createServer(async (req, res) => {
        const key = req.url.split('/')[2] || '';
        try {
          const r =
              await producer.send({topic, acks: -1, messages: [{key, value: 'v', partition: 0}]});
          res.end(`offset ${r[0].baseOffset}\n`);
        } catch (e) {
          res.statusCode = 500;
          res.end(`${e.message}\n`);
        }
      })
      .listen(Number(port), '127.0.0.1', () => console.log('ready'));
})().catch((e) => {
  console.error('ERR', e.message);
  process.exit(1);
});
