// Record an event with the arxi sidecar from Java (java.net.http, Java 17).
//
//   ARXI_URL=http://127.0.0.1:7878 java ArxiClient.java
//   ARXI_TOKEN_FILE=/run/secrets/arxi-token ...   (with token auth)
//
// It records one event with an Idempotency-Key, retrying on 429 and 503
// after the Retry-After the sidecar sends (the same key every time, so a
// retry can never record twice), then reads the envelope back by its
// sequence number. java.net.http speaks TCP only; for the Unix socket use
// the Python or TypeScript example. Exit status: 0 recorded, 1 refused or
// failed. No dependencies: the JSON it needs is read with two small
// helpers; use your JSON library in an application.

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class ArxiClient {
    static final int ATTEMPTS_MAX = 8;
    static final long RETRY_AFTER_MAX_MS = 30_000;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    final String base;
    final Optional<String> token;

    ArxiClient(String base, Optional<String> token) {
        this.base = base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
        this.token = token;
    }

    /** One request with retries on 429/503 after Retry-After. */
    HttpResponse<String> send(HttpRequest.Builder builder) throws IOException, InterruptedException {
        builder.timeout(Duration.ofSeconds(10)).header("Accept", "application/json");
        token.ifPresent(t -> builder.header("Authorization", "Bearer " + t));
        HttpRequest request = builder.build();
        for (int attempt = 0; ; attempt++) {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            int status = response.statusCode();
            if ((status != 429 && status != 503) || attempt + 1 >= ATTEMPTS_MAX) {
                return response;
            }
            long delay = retryDelayMs(response, attempt);
            System.err.printf("arxi: %d, retrying in %d ms%n", status, delay);
            Thread.sleep(delay);
        }
    }

    static long retryDelayMs(HttpResponse<?> response, int attempt) {
        Optional<String> hint = response.headers().firstValue("Retry-After");
        if (hint.isPresent() && hint.get().trim().matches("\\d+")) {
            return Math.min(Long.parseLong(hint.get().trim()) * 1000, RETRY_AFTER_MAX_MS);
        }
        return Math.min(100L << attempt, RETRY_AFTER_MAX_MS);
    }

    /** Records one event; the receipt's JSON once it is durable. */
    String record(String json, String idempotencyKey) throws IOException, InterruptedException {
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(base + "/v1/envelopes"))
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", idempotencyKey)
            .POST(HttpRequest.BodyPublishers.ofString(json)));
        if (response.statusCode() != 201) {
            throw new IOException("not recorded: " + response.statusCode() + " " + response.body());
        }
        return response.body();
    }

    String envelope(long seq) throws IOException, InterruptedException {
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(base + "/v1/envelopes?seq=" + seq)).GET());
        if (response.statusCode() != 200) {
            throw new IOException("envelope " + seq + ": " + response.statusCode() + " " + response.body());
        }
        return response.body();
    }

    static String member(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":(\"([^\"]*)\"|(\\d+))").matcher(json);
        if (!m.find()) {
            throw new IllegalStateException("no " + name + " in " + json);
        }
        return m.group(2) != null ? m.group(2) : m.group(3);
    }

    public static void main(String[] args) {
        try {
            String url = Optional.ofNullable(System.getenv("ARXI_URL")).orElse("http://127.0.0.1:7878");
            Optional<String> token = Optional.ofNullable(System.getenv("ARXI_TOKEN_FILE"))
                .map(file -> {
                    try {
                        return Files.readString(Path.of(file)).trim();
                    } catch (IOException e) {
                        throw new IllegalStateException(file + ": " + e.getMessage());
                    }
                });
            String key = Optional.ofNullable(System.getenv("ARXI_IDEMPOTENCY_KEY"))
                .orElse("java-example-" + UUID.randomUUID());
            ArxiClient client = new ArxiClient(url, token);
            String receipt = client.record(
                "{\"type\":\"orders.created\",\"actor\":\"java-example\",\"subject\":\"order/42\","
                    + "\"payload\":{\"order\":42,\"amount\":12.5}}", key);
            long seq = Long.parseLong(member(receipt, "seq"));
            String hash = member(receipt, "hash");
            String envelope = client.envelope(seq);
            if (!member(envelope, "hash").equals(hash)) {
                throw new IllegalStateException("the stored envelope is not the one recorded");
            }
            System.out.printf("{\"client\":\"java\",\"seq\":%d,\"hash\":\"%s\",\"idempotency_key\":\"%s\"}%n", seq, hash, key);
        } catch (Exception e) {
            System.err.println("arxi: " + e.getMessage());
            System.exit(1);
        }
    }
}
