// Vite config for the web pages. Built from the repo root by `npm run build`
// (`vite build web --emptyOutDir`); output goes to web/dist, served by the host.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: './',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Element Plus and wangEditor are large; they are split into their own chunks below.
    chunkSizeWarningLimit: 1500,
    rolldownOptions: {
      output: {
        // Groups pull in their dependencies, so the shared ones (Vue) are claimed first.
        codeSplitting: {
          groups: [
            { name: 'wangeditor', test: /node_modules[\\/](@wangeditor|slate|slate-history|snabbdom|prismjs|dom7|i18next|@uppy|@transloadit|preact|immer)/, priority: 2 },
            { name: 'element-plus', test: /node_modules[\\/](element-plus|@element-plus|@floating-ui|@popperjs|dayjs|lodash-es|lodash-unified|async-validator|@ctrl|@vueuse|normalize-wheel-es|memoize-one)/, priority: 3 },
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
