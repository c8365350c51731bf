import { runConformance } from './conformance.js';

runConformance('nats');
