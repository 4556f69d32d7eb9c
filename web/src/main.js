// Entry: Vue 3 + Element Plus (zh-CN), the hash router, and the session.
import { createApp } from 'vue'
import ElementPlus from 'element-plus'
import zhCn from 'element-plus/es/locale/lang/zh-cn'
import 'element-plus/dist/index.css'
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
app.use(ElementPlus, { locale: zhCn })
app.mount('#app')
startRouter()
startA11y()
