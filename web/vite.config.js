// Vite config for the web pages. Built from the repo root by `npm run build`
// (`vite build web --emptyOutDir`); output goes to web/dist, served by the host.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { compressAssets } from './compress.mjs'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: './',
  // Element Plus on demand: each page imports the components (and their CSS)
  // its template uses, so the login page does not carry the whole library.
  plugins: [vue(), Components({ resolvers: [ElementPlusResolver({ importStyle: 'css' })], dts: false }), compressAssets()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // wangEditor is large: its own chunk, loaded with the rich-text editor only. Element
    // Plus is imported on demand, so its components split with the pages that use them.
    chunkSizeWarningLimit: 1500,
    rolldownOptions: {
      output: {
        // Groups pull in their dependencies, so the shared ones (Vue) are claimed first.
        codeSplitting: {
          groups: [
            { name: 'wangeditor', test: /node_modules[\\/](@wangeditor|slate|slate-history|snabbdom|prismjs|dom7|i18next|@uppy|@transloadit|preact|immer)/, priority: 2 },
            // CodeMirror: loaded by the rule workbench (申报规则) only, with a dynamic import.
            { name: 'codemirror', test: /node_modules[\\/](@codemirror|@lezer|codemirror|crelt|style-mod|w3c-keyname|@marijn)[\\/]/, priority: 3 },
            { name: 'vue', test: /node_modules[\\/](vue|@vue)[\\/]/, priority: 4 }
          ]
        }
      }
    }
  },
  server: {
    // `npx vite web` during development: forward the API to a running host.
    proxy: { '/api': 'http://127.0.0.1:18080' }
  }
})
