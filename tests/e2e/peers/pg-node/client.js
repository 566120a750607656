// node-postgres client of the end-to-end tests: node client.js PORT
const { Client } = require('pg');

async function main() {
  const client = new Client({ host: '127.0.0.1', port: Number(process.argv[2]),
                              user: 'postgres', database: 'postgres' });
  await client.connect();
  await client.query('create table n (id int, name text)');
  await client.query('insert into n values ($1, $2)', [1, 'secret']);  // extended protocol
  const r = await client.query('select name from n where id = $1', [1]);
  await client.query("select 'plain', 2");  // simple protocol
  console.log(r.rows[0].name);
  await client.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
