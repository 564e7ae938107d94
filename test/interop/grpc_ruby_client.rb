#!/usr/bin/ruby
# A proxyless gRPC client in Ruby (Debian's ruby-grpc: gRPC C-core 1.51 under
# the Ruby API) for Sluice's interop tests. Same protocol as
# grpc_core_client.py: one JSON command per line on stdin, one JSON answer per
# line on stdout. Usage: grpc_ruby_client.rb <target> (GRPC_XDS_BOOTSTRAP set).
require 'grpc'
require 'json'

METHOD = '/sluice.test.Echo/Whoami'
IDENTITY = ->(bytes) { bytes }

target = ARGV.fetch(0)
stub = GRPC::ClientStub.new("xds:///#{target}", :this_channel_is_insecure)
$stdout.sync = true

def outcome(stub, metadata, timeout_ms)
  reply = stub.request_response(METHOD, '{}', IDENTITY, IDENTITY, deadline: Time.now + timeout_ms / 1000.0, metadata: metadata)
  JSON.parse(reply.empty? ? '{}' : reply).fetch('version', '?')
rescue GRPC::BadStatus => e
  "error:#{e.code}"
end

lock = Mutex.new
loops = []
threads = []
running = false

$stdin.each_line do |line|
  line = line.strip
  next if line.empty?
  command = JSON.parse(line)
  answer =
    case command['op']
    when 'tally'
      counts = Hash.new(0)
      count = command.fetch('count', 1).to_i
      concurrency = [command.fetch('concurrency', 20).to_i, 1].max
      metadata = command.fetch('metadata', {})
      timeout_ms = command.fetch('timeoutMs', 5000)
      done = 0
      while done < count
        batch = [concurrency, count - done].min
        batch.times.map { Thread.new { outcome(stub, metadata, timeout_ms) } }.each { |t| counts[t.value] += 1 }
        done += batch
      end
      { counts: counts }
    when 'load'
      running = true
      pause = command.fetch('pauseMs', 2) / 1000.0
      command.fetch('loops', [{}]).each do |spec|
        counts = Hash.new(0)
        loops << counts
        threads << Thread.new do
          while running
            result = outcome(stub, spec.fetch('metadata', {}), 2000)
            lock.synchronize { counts[result] += 1 }
            sleep pause if pause > 0
          end
        end
      end
      { started: true }
    when 'take'
      lock.synchronize do
        taken = loops.map(&:dup)
        loops.each(&:clear)
        { counts: taken }
      end
    when 'stop'
      running = false
      threads.each { |t| t.join(5) }
      threads.clear
      { stopped: true }
    when 'version'
      { grpc: GRPC::VERSION }
    else
      { error: "unknown op #{command['op'].inspect}" }
    end
  puts JSON.generate(answer)
end
running = false
