// node's ws client against examples/wsecho, run by the interop module's
// Go tests (node_test.go):
//
//	node client.mjs ws://127.0.0.1:PORT/path plain|deflate
//
// It sends text, binary, fragmented and 16 MiB messages one at a time and
// checks each echo byte for byte and its type; then it prints "echoed"
// and waits for the server's close, which must be 1001 (going away): the
// test sends wsecho SIGTERM on that line. Any mismatch makes the exit
// code non-zero; each is printed on stderr.
import { WebSocket } from 'ws';

const [url, mode] = process.argv.slice(2);
if (!url || (mode !== 'plain' && mode !== 'deflate')) {
  console.error('usage: node client.mjs URL plain|deflate');
  process.exit(2);
}
const deflate = mode === 'deflate';
const bigSize = 16 << 20; // wsecho's default -max-message

let failures = 0;
function fail(msg) {
  failures++;
  console.error('FAIL: ' + msg);
}

// A fixed pseudo-random sequence, so that every run sends the same bytes.
let seed = 12345;
function rnd() {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed >>> 16;
}

function messages() {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const noise = Buffer.alloc(48 << 10);
  for (let i = 0; i < noise.length; i++) noise[i] = rnd() & 0xff;
  const runes = [...'aé✓🙂 zß€𝄞\n\0ĀЖ中'];
  let s = '';
  while (Buffer.byteLength(s) < 48 << 10) s += runes[rnd() % runes.length];
  const text = Buffer.from(s, 'utf8');
  const big = Buffer.alloc(bigSize);
  for (let i = 0; i < big.length; i++) {
    // Noise and runs in turn: deflate has work either way.
    big[i] = i & (1 << 12) ? (i >> 13) & 0xff : rnd() & 0xff;
  }
  const bigText = Buffer.from('0123456789abcdé'.repeat(bigSize / 16), 'utf8');
  return [
    { name: 'text', binary: false, parts: [Buffer.from('héllo, wörld ✓')] },
    { name: 'empty text', binary: false, parts: [Buffer.alloc(0)] },
    { name: 'binary', binary: true, parts: [all] },
    { name: 'empty binary', binary: true, parts: [Buffer.alloc(0)] },
    // Split mid-rune: the text is valid only whole.
    {
      name: 'fragmented text',
      binary: false,
      parts: [text.subarray(0, 1), text.subarray(1, 16385), Buffer.alloc(0), text.subarray(16385)],
    },
    {
      name: 'fragmented binary',
      binary: true,
      parts: [noise.subarray(0, 100), noise.subarray(100, 16384), noise.subarray(16384)],
    },
    { name: '16 MiB binary', binary: true, parts: [big] },
    { name: '16 MiB text', binary: false, parts: [bigText] },
  ];
}

const ws = new WebSocket(url, { perMessageDeflate: deflate, maxPayload: bigSize });

// Each message event resolves the oldest waiter.
const inbox = [];
const waiters = [];
ws.on('message', (data, isBinary) => {
  const m = { data, isBinary };
  const w = waiters.shift();
  if (w) w.resolve(m);
  else inbox.push(m);
});
function nextMessage() {
  if (inbox.length) return Promise.resolve(inbox.shift());
  return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
}

let extHeader = null;
ws.on('upgrade', (res) => {
  extHeader = res.headers['sec-websocket-extensions'] ?? '';
});

const closed = new Promise((resolve) => {
  ws.on('close', (code, reason) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`closed ${code} before the echo`));
    resolve({ code, reason: reason.toString() });
  });
});
ws.on('error', (err) => fail('error: ' + err.message));

function send(data, opts) {
  return new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
}

async function exchange() {
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error('closed before open')));
  });
  console.error(`Sec-WebSocket-Extensions: ${JSON.stringify(extHeader)}; extensions: ${JSON.stringify(ws.extensions)}`);
  if (deflate) {
    if (!ws.extensions.includes('permessage-deflate')) {
      fail(`permessage-deflate offered but not negotiated: Sec-WebSocket-Extensions ${JSON.stringify(extHeader)}`);
    }
  } else if (extHeader !== '') {
    fail(`no extension offered, yet Sec-WebSocket-Extensions ${JSON.stringify(extHeader)}`);
  }
  for (const m of messages()) {
    for (let i = 0; i < m.parts.length; i++) {
      await send(m.parts[i], { binary: m.binary, fin: i === m.parts.length - 1 });
    }
    const got = await nextMessage();
    const want = Buffer.concat(m.parts);
    if (got.isBinary !== m.binary) fail(`${m.name}: echo is binary=${got.isBinary}, want ${m.binary}`);
    if (!Buffer.from(got.data).equals(want)) {
      fail(`${m.name}: echo of ${got.data.length} bytes differs from the ${want.length} sent`);
    }
  }
}

const deadline = setTimeout(() => {
  fail('no end within 150s');
  process.exit(1);
}, 150_000);

try {
  await exchange();
} catch (err) {
  fail(err.message);
  ws.terminate();
}
console.log('echoed');
const { code, reason } = await closed;
console.error(`close ${code} ${JSON.stringify(reason)}`);
if (code !== 1001) fail(`close ${code}, want 1001 (going away)`);
clearTimeout(deadline);
process.exit(failures ? 1 : 0);
