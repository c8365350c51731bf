import { runConformance } from './conformance.js';

runConformance('rabbitmq');
