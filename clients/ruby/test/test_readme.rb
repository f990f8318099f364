# frozen_string_literal: true

# The README's example, as written, against a sidecar with the built-in
# policies: it prints what the README says it prints.

require_relative "helper"
require "open3"

class TestReadme < Minitest::Test
  def test_the_example_prints_what_the_readme_says
    readme = File.read(File.expand_path("../README.md", __dir__))
    m = readme.match(/```ruby\n(require "retryd"\n.*?)```\s*\n.*?```text\n(.*?)```/m)
    refute_nil m, "README.md has no example followed by its output"
    Dir.mktmpdir("retryd-readme-") do |dir|
      file = File.join(dir, "example.rb")
      File.write(file, m[1])
      Harness.with_retryd("") do |addr|
        out, err, status = Open3.capture3({ "RETRYD_ADDR" => addr }, "ruby", "-w", "-I", File.expand_path("../lib", __dir__), file)
        assert status.success?, err
        assert_equal "", err
        assert_equal m[2], out
      end
    end
  end
end
