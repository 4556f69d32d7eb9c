// A Vite plugin that writes a gzip and a brotli copy beside each text asset
// of the build (node's zlib), which the host serves to browsers that accept
// them (host/assets.c), so nothing is compressed per request.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, gzipSync, constants } from 'node:zlib'

const TEXT = /\.(js|mjs|css|html|svg|json|txt|map)$/

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else out.push(p)
  }
  return out
}

export function compressAssets() {
  let outDir = ''
  return {
    name: 'compress-assets',
    apply: 'build',
    configResolved(config) { outDir = join(config.root, config.build.outDir) },
    closeBundle() {
      for (const file of walk(outDir)) {
        if (!TEXT.test(file)) continue
        const data = readFileSync(file)
        if (data.length < 1024) continue
        writeFileSync(file + '.gz', gzipSync(data, { level: 9 }))
        writeFileSync(file + '.br', brotliCompressSync(data, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length }
        }))
      }
    }
  }
}
