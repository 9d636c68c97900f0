// What a browser app ships to count with OpenTelemetry JS and export over OTLP/HTTP: the
// comparison for the size and the speed measurements (bench/measure.mjs).
export {
  MeterProvider,
  PeriodicExportingMetricReader,
  InMemoryMetricExporter,
  AggregationTemporality,
} from '@opentelemetry/sdk-metrics';
export { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
