// Entry: Vue 3, the hash router, and the session. Element Plus components are
// imported on demand by each page (unplugin-vue-components in vite.config.js);
// the message boxes used from scripts bring their styles here.
import { createApp } from 'vue'
import 'element-plus/theme-chalk/base.css'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import './style.css'
import './a11y.css'
import App from './App.vue'
import { startRouter, replace, route } from './router.js'
import { onUnauthorized } from './api.js'
import { setMe } from './session.js'
import { startA11y } from './a11y.js'

onUnauthorized(() => {
  setMe(null)
  if (!route.meta.public) replace('/login?redirect=' + encodeURIComponent(route.fullPath || '/'))
})

const app = createApp(App)
app.mount('#app')
startRouter()
startA11y()
