// The Node.js runtime's bootstrap for the local cloud: runs a deployed function's handler against the Lambda
// Runtime API (AWS_LAMBDA_RUNTIME_API), with the semantics of Lambda's nodejs18.x/20.x/22.x runtimes:
//
// - handler "path/to/file.export[.nested]": the file is tried as given, then .js (CommonJS, or an ES module
//   when the nearest package.json says "type": "module"), .mjs (ES module) and .cjs, then as a package;
// - async handlers (a returned promise) and callback handlers (event, context, callback); a callback's
//   result is sent once the event loop is empty unless context.callbackWaitsForEmptyEventLoop is false;
// - context: awsRequestId, functionName, functionVersion, invokedFunctionArn, memoryLimitInMB, logGroupName,
//   logStreamName, identity, clientContext, getRemainingTimeInMillis(), callbackWaitsForEmptyEventLoop,
//   succeed/fail/done;
// - errors shaped {errorType, errorMessage, trace}, without this runtime's own frames, the function's files
//   named /var/task/... and the AWS SDK's /var/runtime/node_modules/..., as on Lambda;
// - console.* writes "time\trequestId\tLEVEL\tmessage", one log event per call however many lines it has
//   (SFN_CALLBACK_LOG_FD), as Lambda's runtime does.
//
// The AWS SDK for JavaScript v3 is resolved after the function's own node_modules (NODE_PATH for require,
// a resolve hook for import), as the Lambda runtimes provide it.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');

const RUNTIME_DIR = __dirname;
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const HANDLER = process.env._HANDLER || '';
const [API_HOST, API_PORT] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
const RUNTIME_PATH = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let PATHS = [];
try { PATHS = JSON.parse(process.env.SFN_CALLBACK_PATH_MAP || '[]'); } catch (e) { PATHS = []; }

function maskPaths(text) {
  let out = String(text);
  for (const [prefix, replacement] of PATHS) {
    if (out.includes(prefix)) out = out.split(prefix).join(replacement);
    const url = pathToFileURL(prefix).href;
    if (out.includes(url)) out = out.split(url).join('file://' + replacement);
  }
  return out;
}

// -- logs ------------------------------------------------------------------------------------------------
const LOG_FD = /^\d+$/.test(process.env.SFN_CALLBACK_LOG_FD || '') ? Number(process.env.SFN_CALLBACK_LOG_FD) : null;
let currentRequestId;  // undefined outside an invocation, as Lambda prints it

function writeLog(message) {
  if (LOG_FD === null) {
    process.stderr.write(message.replace(/\n/g, '\r') + '\n');
    return;
  }
  const data = Buffer.from(JSON.stringify(message) + '\n', 'utf8');
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(LOG_FD, data, offset);
}

function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => {
      let message = util.format(...args);
      if (method === 'trace') message += '\n' + new Error().stack.split('\n').slice(2).join('\n');
      writeLog(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}`);
    };
  }
}

// -- errors ----------------------------------------------------------------------------------------------
function isRuntimeFrame(line) {
  return line.includes(RUNTIME_DIR + path.sep) || line.includes(pathToFileURL(RUNTIME_DIR).href + '/');
}

function toLambdaError(error) {
  if (error instanceof Error || (error && typeof error === 'object' && 'message' in error && 'stack' in error)) {
    const stack = typeof error.stack === 'string' ? error.stack.split('\n') : [];
    return {
      errorType: error.name || (error.constructor && error.constructor.name) || 'Error',
      errorMessage: maskPaths(error.message),
      trace: stack.filter((line) => !isRuntimeFrame(line)).map(maskPaths),
    };
  }
  return { errorType: typeof error, errorMessage: maskPaths(String(error)), trace: [] };
}

// An error of the runtime's own (the handler cannot be loaded...): its trace is its message and the frames of
// the function's code that led to it, if any; the runtime's and Node's internal frames say nothing useful.
class RuntimeError extends Error {
  constructor(type, message, cause) {
    super(message);
    this.name = type;
    const own = cause && typeof cause.stack === 'string'
      ? cause.stack.split('\n').filter((line) => /^\s+at /.test(line) && maskPaths(line).includes('/var/task/'))
      : [];
    this.stack = [`${type}: ${message}`, ...own].join('\n');
  }
}

// -- the Runtime API client ------------------------------------------------------------------------------
function call(method, route, body, headers) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body, 'utf8');
    const request = http.request({
      host: API_HOST, port: Number(API_PORT), path: RUNTIME_PATH + route, method, agent,
      headers: { ...(headers || {}), ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) },
    }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(data);
  });
}

function postError(route, error) {
  const body = toLambdaError(error);
  return call('POST', route, JSON.stringify(body), { 'Lambda-Runtime-Function-Error-Type': body.errorType }).then(() => body);
}

// -- loading the handler ---------------------------------------------------------------------------------
function nearestPackageType(file) {
  let dir = path.dirname(file);
  const root = path.resolve(TASK_ROOT);
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try { return JSON.parse(fs.readFileSync(manifest, 'utf8')).type || 'commonjs'; } catch (e) { return 'commonjs'; }
    }
    if (dir === root || path.dirname(dir) === dir) return 'commonjs';
    dir = path.dirname(dir);
  }
}

function isFile(file) {
  try { return fs.statSync(file).isFile(); } catch (e) { return false; }
}

async function loadModule(moduleRoot, moduleName) {
  const base = path.resolve(TASK_ROOT, moduleRoot, moduleName);
  const attempts = [
    [base, () => (base.endsWith('.mjs') || (base.endsWith('.js') && nearestPackageType(base) === 'module') ? 'esm' : 'cjs')],
    [base + '.js', () => (nearestPackageType(base + '.js') === 'module' ? 'esm' : 'cjs')],
    [base + '.mjs', () => 'esm'],
    [base + '.cjs', () => 'cjs'],
  ];
  for (const [file, kind] of attempts) {
    if (!isFile(file)) continue;
    if (kind() !== 'esm') return require(file);
    registerSdkResolution();
    return import(pathToFileURL(file).href);
  }
  let resolved;
  try {
    resolved = require.resolve(moduleName, { paths: [path.resolve(TASK_ROOT, moduleRoot), TASK_ROOT] });
  } catch (e) {
    throw new RuntimeError('Runtime.ImportModuleError', `Error: Cannot find module '${moduleName}'`);
  }
  return require(resolved);
}

// ES modules do not read NODE_PATH: a resolve hook finds the bare imports the function's node_modules lacks in
// the SDK. Registered only for an ES module handler (a hook runs in a thread of its own, ~0.2 s to start).
let sdkHooked = false;
function registerSdkResolution() {
  const { register } = require('module');
  if (sdkHooked || !process.env.SFN_CALLBACK_NODE_SDK || typeof register !== 'function') return;
  sdkHooked = true;
  register(pathToFileURL(path.join(RUNTIME_DIR, 'sdk_hooks.mjs')).href,
    { data: { sdk: pathToFileURL(path.join(process.env.SFN_CALLBACK_NODE_SDK, 'node_modules') + path.sep).href } });
}

async function loadHandler(spec) {
  const slash = spec.lastIndexOf('/');
  const moduleRoot = spec.slice(0, slash + 1);
  const rest = spec.slice(slash + 1);
  const dot = rest.indexOf('.');
  if (dot <= 0 || dot === rest.length - 1) throw new RuntimeError('Runtime.MalformedHandlerName', 'Bad handler');
  const moduleName = rest.slice(0, dot);
  const exportPath = rest.slice(dot + 1);
  let loaded;
  try {
    loaded = await loadModule(moduleRoot, moduleName);
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    if (error instanceof SyntaxError) throw new RuntimeError('Runtime.UserCodeSyntaxError', `${error.name}: ${error.message}`, error);
    if (error && (error.code === 'MODULE_NOT_FOUND' || error.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new RuntimeError('Runtime.ImportModuleError', `Error: ${maskPaths(error.message.split('\n')[0])}`, error);
    }
    throw error;  // the module's own code threw while loading: reported as it is
  }
  const handler = exportPath.split('.').reduce((value, key) => (value == null ? undefined : value[key]), loaded);
  if (typeof handler !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${moduleRoot}${moduleName}.${exportPath} is undefined or not exported`);
  }
  return handler;
}

// -- invoking --------------------------------------------------------------------------------------------
function parseJson(text) {
  if (!text) return undefined;
  try { return JSON.parse(text); } catch (e) { return undefined; }
}

function makeContext(headers, settle) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parseJson(headers['lambda-runtime-cognito-identity']),
    clientContext: parseJson(headers['lambda-runtime-client-context']),
    getRemainingTimeInMillis: () => deadline - Date.now(),
    succeed: (value) => settle(null, value, false),
    fail: (error) => settle(error == null ? 'handled' : error, undefined, false),
    done: (error, value) => settle(error, value, false),
  };
  return context;
}

let inFlight = null;  // {requestId, route} of the invocation in progress

function invoke(handler, headers, body) {
  return new Promise((resolve) => {
    let finished = false;
    let waitingForLoop = null;
    const settle = (error, value, waitForLoop) => {
      if (finished) return;
      const complete = () => {
        if (finished) return;
        finished = true;
        if (waitingForLoop) process.removeListener('beforeExit', waitingForLoop);
        resolve(error != null ? { error } : { value });
      };
      if (waitForLoop) {
        if (waitingForLoop) process.removeListener('beforeExit', waitingForLoop);
        waitingForLoop = complete;
        process.once('beforeExit', waitingForLoop);
      } else {
        complete();
      }
    };
    const context = makeContext(headers, settle);
    let event;
    try {
      event = body ? JSON.parse(body) : {};
    } catch (error) {
      settle(new RuntimeError('Runtime.UnmarshalError', `Unable to parse the event: ${error.message}`), undefined, false);
      return;
    }
    const callback = (error, value) => settle(error, value, context.callbackWaitsForEmptyEventLoop);
    // A handler that neither returns a promise nor calls back answers null once the event loop is empty.
    waitingForLoop = () => settle(null, null, false);
    process.once('beforeExit', waitingForLoop);
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (error) {
      settle(error, undefined, false);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      // An async handler's answer is its promise; the event loop is not waited for.
      if (waitingForLoop) process.removeListener('beforeExit', waitingForLoop);
      waitingForLoop = null;
      returned.then((value) => settle(null, value, false), (error) => settle(error == null ? new Error(String(error)) : error, undefined, false));
    }
  });
}

async function main() {
  patchConsole();
  process.on('unhandledRejection', (reason) => {
    const error = new RuntimeError('Runtime.UnhandledPromiseRejection', `${reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)}`, reason instanceof Error ? reason : undefined);
    fatal(error, 128);
  });
  process.on('uncaughtException', (error) => fatal(error, 129));

  let handler;
  try {
    handler = await loadHandler(HANDLER);
  } catch (error) {
    const body = toLambdaError(error);
    writeLog(`${new Date().toISOString()}\t${currentRequestId}\tERROR\tUncaught Exception \t${JSON.stringify({ errorType: body.errorType, errorMessage: body.errorMessage, stack: body.trace })}`);
    await postError('/init/error', error);
    process.exit(1);
  }

  for (;;) {
    const next = await call('GET', '/invocation/next');
    if (next.status !== 200) process.exit(0);
    const requestId = next.headers['lambda-runtime-aws-request-id'];
    currentRequestId = requestId;
    inFlight = { requestId };
    if (next.headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
    const outcome = await invoke(handler, next.headers, next.body);
    if ('error' in outcome) {
      const error = outcome.error === 'handled' ? new Error('handled') : outcome.error;
      const body = toLambdaError(error);
      writeLog(`${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error \t${JSON.stringify({ errorType: body.errorType, errorMessage: body.errorMessage, stack: body.trace })}`);
      await postError(`/invocation/${requestId}/error`, error);
    } else {
      let payload;
      try {
        payload = JSON.stringify(outcome.value === undefined ? null : outcome.value);
      } catch (error) {
        await postError(`/invocation/${requestId}/error`, error);
        inFlight = null;
        continue;
      }
      await call('POST', `/invocation/${requestId}/response`, payload);
    }
    inFlight = null;
  }
}

function fatal(error, status) {
  const body = toLambdaError(error);
  writeLog(`${new Date().toISOString()}\t${currentRequestId}\tERROR\t${inFlight ? 'Uncaught Exception' : 'Unhandled'} \t${JSON.stringify({ errorType: body.errorType, errorMessage: body.errorMessage, stack: body.trace })}`);
  const route = inFlight ? `/invocation/${inFlight.requestId}/error` : '/init/error';
  postError(route, error).catch(() => {}).finally(() => process.exit(status));
}

main().catch((error) => fatal(error, 1));
