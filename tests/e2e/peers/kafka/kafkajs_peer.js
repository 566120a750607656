// kafkajs peer of the Kafka end-to-end tests.
//   node kafkajs_peer.js produce BOOTSTRAP TOPIC N [traceparent]: N messages key-i/value-i in
//     one send to partition 0, printed as "topic partition baseOffset"
//   node kafkajs_peer.js consume BOOTSTRAP GROUP TOPIC N: a consumer group member; prints
//     "topic partition offset key" per message until N arrived
//   node kafkajs_peer.js consume-call BOOTSTRAP GROUP TOPIC N URL: the same, and each message
//     is handled by a GET URL/KEY awaited before the next; once N arrived, and kafkajs asked
//     the broker again (500 ms), one more GET URL/unrelated from a timer
const http = require('http');
const {Kafka, logLevel} = require('kafkajs');

const [mode, bootstrap, ...rest] = process.argv.slice(2);
const kafka = new Kafka({clientId: 'kjs', brokers: [bootstrap], logLevel: logLevel.NOTHING});

async function produce(topic, n, traceparent) {
  const p = kafka.producer();
  await p.connect();
  const messages = [];
  for (let i = 0; i < n; i++) {
    const m = {key: `key-${i}`, value: `value-${i}`, partition: 0};
    if (traceparent) m.headers = {traceparent};
    messages.push(m);
  }
  const r = await p.send({topic, acks: -1, messages});
  for (const x of r) console.log(x.topicName, x.partition, x.baseOffset);
  await p.disconnect();
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        }).on('error', reject);
  });
}

async function consume(group, topic, n, callUrl) {
  const c = kafka.consumer({groupId: group, maxWaitTimeInMs: 200});
  await c.connect();
  await c.subscribe({topic, fromBeginning: true});
  let got = 0;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${got}`)), 20000);
    c.run({
      eachMessage: async ({topic: t, partition, message}) => {
        const key = message.key ? message.key.toString() : '';
        if (callUrl) await get(`${callUrl}/${key}`);
        console.log(t, partition, message.offset, key);
        if (++got >= n) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  if (callUrl) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    console.log('unrelated', await get(`${callUrl}/unrelated`));
  }
  await c.disconnect();
}

(async () => {
  if (mode === 'produce')
    await produce(rest[0], Number(rest[1]), rest[2]);
  else if (mode === 'consume-call')
    await consume(rest[0], rest[1], Number(rest[2]), rest[3]);
  else
    await consume(rest[0], rest[1], Number(rest[2]));
})().catch((e) => {
  console.error('ERR', e.message);
  process.exit(1);
});
