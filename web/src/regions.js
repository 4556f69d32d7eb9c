// Provinces and cities (GET /api/regions/...), fetched once and cached.
import { api, asList } from './api.js'

let provinces = null
const cities = new Map()

export async function getProvinces() {
  if (!provinces) provinces = api.get('/api/regions/provinces').then(asList).catch(e => { provinces = null; throw e })
  return provinces
}

export async function getCities(province) {
  if (!province) return []
  if (!cities.has(province)) {
    cities.set(province, api.get('/api/regions/cities', { province }).then(asList).catch(e => { cities.delete(province); throw e }))
  }
  return cities.get(province)
}
