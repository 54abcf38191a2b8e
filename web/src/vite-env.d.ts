/// <reference types="vite/client" />

// The official telegram-web-app.js (aliased in vite.config.ts); imported for its side effects.
declare module 'telegram-web-app';
