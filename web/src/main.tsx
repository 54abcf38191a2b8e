import { render } from 'preact';
import { App } from './app';
import { Outside } from './components/Outside';
import { insideTelegram, tg } from './telegram';
import { initTheme } from './theme';
import './styles.css';

initTheme();
tg.ready();
tg.expand();

render(insideTelegram ? <App /> : <Outside />, document.getElementById('app')!);
