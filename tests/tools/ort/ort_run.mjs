// Runs an ONNX model with onnxruntime (CPU, one thread): the independent
// reference that the end-to-end tests compare lrcompress against.
//
//   node ort_run.mjs MODEL.onnx IN.bin N C H W OUT.bin [--batch B]
//       IN.bin: N*C*H*W little-endian float32, already normalised (NCHW).
//   node ort_run.mjs MODEL.onnx --idx IMAGES.gz N --mean M --std S OUT.bin [--batch B]
//       Reads the first N images of a gzipped IDX file here (node's zlib, not
//       lrcompress's reader), computes (pixel - M) / S per channel in float32
//       and runs them. M and S may be comma-separated per-channel lists.
//
// OUT.bin gets the first graph output as little-endian float32, row-major,
// in input order. The output shape is printed as "output <name> shape
// [N,K]". Graph optimisations are off by default so that ORT evaluates the
// graph as written (no Conv+BatchNorm fusion); --opt all turns them on.
// Exit codes: 0 success, 2 usage, 1 any other failure.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

function die(msg, code = 1) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(code);
}

function usage() {
  die('usage:\n' +
      '  node ort_run.mjs MODEL.onnx IN.bin N C H W OUT.bin [--batch B] [--opt disabled|basic|all]\n' +
      '  node ort_run.mjs MODEL.onnx --idx IMAGES.gz N --mean M --std S OUT.bin [--batch B] [--opt ...]', 2);
}

function loadOrt() {
  const require = createRequire(join(here, 'package.json'));
  try {
    return require('onnxruntime-node');
  } catch (e) {
    die(`cannot load onnxruntime-node from ${join(here, 'node_modules')} (${e.code || e.message}); ` +
        `run tests/tools/ort/install.sh first`);
  }
}

function posInt(s, what) {
  if (!/^[0-9]+$/.test(s) || Number(s) <= 0) die(`${what} must be a positive integer, got '${s}'`, 2);
  return Number(s);
}

function floatList(s, what) {
  const v = s.split(',').map(Number);
  if (v.length === 0 || v.some((x) => !Number.isFinite(x))) die(`${what}: bad number list '${s}'`, 2);
  return v.map(Math.fround);
}

// Splits argv into positional arguments and --key value options.
function parseArgs(argv) {
  const pos = [];
  const opt = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      if (i + 1 >= argv.length) die(`option ${a} needs a value`, 2);
      opt[a.slice(2)] = argv[++i];
    } else {
      pos.push(a);
    }
  }
  return { pos, opt };
}

// The first n images of a gzipped IDX3 uint8 file, normalised, as NCHW
// float32 with C = 1 (IDX images are single-channel).
function readIdx(path, n, mean, std) {
  const buf = gunzipSync(readFileSync(path));
  if (buf.length < 16) die(`${path}: shorter than an IDX header`);
  const magic = buf.readUInt32BE(0);
  if (magic !== 2051) die(`${path}: IDX magic ${magic}, expected 2051 (uint8, 3 dims)`);
  const count = buf.readUInt32BE(4);
  const rows = buf.readUInt32BE(8);
  const cols = buf.readUInt32BE(12);
  if (n > count) die(`${path}: asked for ${n} images, file has ${count}`);
  if (buf.length < 16 + count * rows * cols) die(`${path}: truncated (${buf.length} bytes)`);
  if (mean.length !== 1 || std.length !== 1) die('IDX images have one channel: give one --mean and one --std', 2);
  const m = mean[0];
  const s = std[0];
  if (s === 0) die('--std must not be 0', 2);
  const x = new Float32Array(n * rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(buf[16 + i] - m) / s;
  return { x, shape: [n, 1, rows, cols] };
}

function readRaw(path, n, c, h, w) {
  const buf = readFileSync(path);
  const want = n * c * h * w * 4;
  if (buf.length !== want) die(`${path}: ${buf.length} bytes, expected ${want} for ${n}x${c}x${h}x${w} float32`);
  const x = new Float32Array(n * c * h * w);
  for (let i = 0; i < x.length; i++) x[i] = buf.readFloatLE(4 * i);
  return { x, shape: [n, c, h, w] };
}

async function main() {
  const { pos, opt } = parseArgs(process.argv.slice(2));
  let model, input, out;
  if (opt.idx !== undefined) {
    if (pos.length !== 3 || opt.mean === undefined || opt.std === undefined) usage();
    model = pos[0];
    const n = posInt(pos[1], 'N');
    out = pos[2];
    input = readIdx(opt.idx, n, floatList(opt.mean, '--mean'), floatList(opt.std, '--std'));
  } else {
    if (pos.length !== 7) usage();
    model = pos[0];
    const [n, c, h, w] = pos.slice(2, 6).map((s, i) => posInt(s, 'NCHW'[i]));
    out = pos[6];
    input = readRaw(pos[1], n, c, h, w);
  }
  const [n, c, h, w] = input.shape;
  const batch = opt.batch !== undefined ? posInt(opt.batch, '--batch') : Math.min(n, 256);
  const level = opt.opt || 'disabled';
  if (!['disabled', 'basic', 'extended', 'all'].includes(level)) die(`--opt: unknown level '${level}'`, 2);

  const ort = loadOrt();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: level,
  });
  if (session.inputNames.length !== 1) die(`${model}: ${session.inputNames.length} graph inputs, expected 1`);
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];

  const img = c * h * w;
  const chunks = [];
  let k = -1;
  let outDims = [];
  for (let b0 = 0; b0 < n; b0 += batch) {
    const nb = Math.min(batch, n - b0);
    const t = new ort.Tensor('float32', input.x.subarray(b0 * img, (b0 + nb) * img), [nb, c, h, w]);
    const res = await session.run({ [inName]: t });
    const y = res[outName];
    if (y.type !== 'float32') die(`output ${outName} has type ${y.type}, expected float32`);
    if (y.dims[0] !== nb) die(`output ${outName} has batch ${y.dims[0]}, expected ${nb}`);
    const kb = y.data.length / nb;
    if (k >= 0 && kb !== k) die(`output size per image changed from ${k} to ${kb}`);
    k = kb;
    chunks.push(Float32Array.from(y.data));
    if (b0 === 0) outDims = y.dims.slice(1);
  }
  const all = Buffer.alloc(n * k * 4);
  let off = 0;
  for (const ch of chunks) {
    for (let i = 0; i < ch.length; i++, off += 4) all.writeFloatLE(ch[i], off);
  }
  writeFileSync(out, all);
  console.log(`output ${outName} shape [${[n, ...outDims].join(',')}]`);
}

main().catch((e) => die(e && e.message ? e.message : String(e)));
