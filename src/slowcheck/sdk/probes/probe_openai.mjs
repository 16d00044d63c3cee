// The SDK matrix's Node probe: imports one aliased openai version (argv[2]) and prints one JSON object.
// Input: argv[3] is JSON (root, lab, run, model); the key comes from SLOWCHECK_API_KEY; --header's headers from
// SLOWCHECK_HEADERS (JSON pairs), given as defaultHeaders; a private CA from NODE_EXTRA_CA_CERTS (Node reads it).
const alias = process.argv[2];
const { root: ROOT, lab: LAB, run: RUN, model: MODEL, batch: BATCH } = JSON.parse(process.argv[3]);
const KEY = process.env.SLOWCHECK_API_KEY;
const HEADERS = Object.fromEntries(JSON.parse(process.env.SLOWCHECK_HEADERS || '[]'));
const { default: OpenAI, toFile } = await import(alias);
const pkg = JSON.parse(await (await import('node:fs/promises')).readFile(
  new URL(`./node_modules/${alias}/package.json`, import.meta.url), 'utf8'));
const MESSAGES = [{ role: 'user', content: 'What is the capital of France?' }];
const results = {};

const client = (base = ROOT, maxRetries = 0) =>
  new OpenAI({ apiKey: KEY, baseURL: `${base}/v1/slow`, maxRetries, timeout: 20000, defaultHeaders: HEADERS });
const chat = (c, extra = {}) => c.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 8, ...extra });
const record = (name, passed, detail, by) => {
  results[name] = { status: passed ? 'passed' : 'failed', detail };
  if (by && !passed) results[name].by = by;
};
const text = (value) => JSON.stringify(value);

async function check(name, fn) {
  try {
    await fn();
  } catch (error) {
    const status = error && error.status;
    const sdk = error instanceof TypeError || error instanceof SyntaxError || error?.name === 'FetchError';
    record(name, false, `${status ? `HTTP ${status}: ` : ''}${error?.name}: ${String(error?.message).slice(0, 240)}`,
      status ? undefined : (sdk ? 'sdk' : undefined));
  }
}

async function generation(id) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const answer = await fetch(`${ROOT}/v1/generation/${id}`, { headers: { ...HEADERS, Authorization: `Bearer ${KEY}` } });
    if (answer.status === 404 && Date.now() < deadline) { await new Promise((r) => setTimeout(r, 200)); continue; }
    if (!answer.ok) throw new Error(`GET /v1/generation answered ${answer.status}`);
    return answer.json();
  }
}

let ack;
await check('submit-chat', async () => {
  ack = await chat(client());
  record('submit-chat', typeof ack.id === 'string' && ack.id.length > 0 && Array.isArray(ack.choices) && ack.choices.length === 0,
    `id ${text(ack.id)}, choices ${text(ack.choices)}`);
});
await check('submit-text', async () => {
  const done = await client().completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8 });
  record('submit-text', typeof done.id === 'string' && Array.isArray(done.choices) && done.choices.length === 0,
    `id ${text(done.id)}, choices ${text(done.choices)}, object ${text(done.object)}`);
});
results['strict-parse'] = { status: 'n/a', detail: 'the Node SDK has no strict response validation' };
await check('metadata', async () => {
  const metadata = { webhook_id: 'sdk-matrix', custom_id: RUN };
  const sent = await chat(client(), { metadata });
  const stored = ((await generation(sent.id)).request || {}).metadata;
  record('metadata', text(stored) === text(metadata), `sent in the params; the server stored ${text(stored)}`);
});
await check('raw-headers', async () => {
  const { data, response } = await chat(client()).withResponse();
  const requestId = response.headers.get('x-request-id');
  record('raw-headers', Boolean(data.id), `id ${text(data.id)} from the raw answer, x-request-id ${text(requestId)}`);
  if (data.id && !requestId) { // an OpenAI habit the API's docs never promise
    results['raw-headers'] = { status: 'deviation', detail: 'no x-request-id (not promised by the docs)' };
  }
});
await check('get-generation', async () => {
  const id = ack ? ack.id : (await chat(client())).id;
  const data = await client().get(`${ROOT}/v1/generation/${id}`);
  // What the docs promise: a state, the request, and on Success a response whose id is the ack's.
  const ok = Boolean(data) && 'state' in data && 'request' in data
    && (data.state !== 'Success' || (data.response || {}).id === id);
  record('get-generation', ok, `client.get(absolute URL) -> state ${text(data && data.state)}`);
});
await check('created-ms', async () => {
  const created = (ack || (await chat(client()))).created;
  const year = new Date(created * 1000).getUTCFullYear();
  const ok = Number.isInteger(created) && Math.abs(created / 1000 - Date.now() / 1000) < 86400;
  record('created-ms', ok, `created=${created}; new Date(created * 1000) is in the year ${year}: use new Date(created)`);
});
await check('stream-refused', async () => {
  let stream;
  try {
    stream = await chat(client(), { stream: true });
  } catch (error) {
    if (error && error.status) {
      record('stream-refused', error.status >= 400 && error.status < 500, `HTTP ${error.status}: the SDK threw ${error.name}`);
      return;
    }
    throw error;
  }
  let chunks = 0;
  for await (const _ of stream) chunks += 1;
  record('stream-refused', false, `accepted: the SDK iterated ${chunks} chunks and the id was lost`);
});
await check('embeddings', async () => {
  let done;
  try {
    done = await client().embeddings.create({ model: MODEL, input: 'What is the capital of France?' });
  } catch (error) {
    if (error?.status !== 404) throw error;
    results.embeddings = { status: 'n/a',
      detail: '404: the API has no /v1/slow/embeddings (the path is inferred: the docs say async embeddings exist, not where)' };
    return;
  }
  if (!done || typeof done.id !== 'string') {
    record('embeddings', false, `the ack has no readable id: ${text(done).slice(0, 200)}`);
    return;
  }
  const stored = (await generation(done.id)).request || {};
  record('embeddings', stored.input === 'What is the capital of France?',
    `id ${text(done.id)}; the SDK sent encoding_format ${text(stored.encoding_format)}`);
});
await check('batch-flow', async () => {
  if (!BATCH) {
    results['batch-flow'] = { status: 'n/a', detail: 'no --batch-base-url (the Batch API has its own host)' };
    return;
  }
  const c = new OpenAI({ apiKey: KEY, baseURL: `${BATCH}/v1`, maxRetries: 0, timeout: 20000, defaultHeaders: HEADERS });
  const wanted = [0, 1].map((i) => `${RUN}-${i}`);
  const body = { model: MODEL, messages: MESSAGES, max_tokens: 8 };
  const lines = wanted.map((id) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body })).join('\n') + '\n';
  const uploaded = await c.files.create({ file: await toFile(Buffer.from(lines), 'sdk-matrix.jsonl'), purpose: 'batch' });
  let batch = await c.batches.create({ input_file_id: uploaded.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const deadline = Date.now() + 30000;
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    batch = await c.batches.retrieve(batch.id);
  }
  if (batch.status !== 'completed') { record('batch-flow', false, `the batch was ${batch.status} after 30 s`); return; }
  const content = await c.files.content(batch.output_file_id);
  const found = (await content.text()).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).custom_id).sort();
  record('batch-flow', text(found) === text(wanted),
    `files.content returned ${content?.constructor?.name}; custom_ids ${text(found)}`);
});
await check('retry-429', async () => {
  const done = await chat(client(`${LAB}/${RUN}/retry-429`, 2));
  record('retry-429', Boolean(done.id), `the call returned id ${text(done.id)}`);
});
await check('idempotency', async () => {
  const done = await chat(client(`${LAB}/${RUN}/lost-ack`, 2));
  record('idempotency', Boolean(done.id), `the call returned id ${text(done.id)}`);
});
process.stdout.write(JSON.stringify({ version: pkg.version, results }) + '\n');
