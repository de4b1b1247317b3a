// Module resolve hook for the local cloud's Node.js runtime: a bare import (`import { S3Client } from
// '@aws-sdk/client-s3'`) that the function's own node_modules cannot satisfy is resolved from the AWS SDK for
// JavaScript v3 the runtime provides, as require() does through NODE_PATH. The function's own copy wins.
let sdkParent = null;

export async function initialize(data) {
  sdkParent = data && data.sdk ? data.sdk : null;
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const bare = !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.includes(':');
    if (sdkParent && bare && error && error.code === 'ERR_MODULE_NOT_FOUND') {
      return nextResolve(specifier, { ...context, parentURL: sdkParent });
    }
    throw error;
  }
}
